"""The results of a run: the Report, its HTML page, and how figures are written (dollars, tokens)."""

from docanalyze.report.result import ChunkResult, Report

__all__ = ["ChunkResult", "Report"]
