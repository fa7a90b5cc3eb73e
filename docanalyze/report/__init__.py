"""A run's results: the Report, its output formats, its HTML page, how figures are written."""

from docanalyze.report.result import ChunkResult, Report

__all__ = ["ChunkResult", "Report"]
