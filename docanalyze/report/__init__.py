"""The results of a run: the Report, and its HTML page."""

from docanalyze.report.result import ChunkResult, Report

__all__ = ["ChunkResult", "Report"]
