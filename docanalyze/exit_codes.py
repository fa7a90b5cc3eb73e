"""The exit codes of the command line, one rule for every run.

0, a complete report; :data:`EXIT_ERROR` (1), an error, with no report or with some of the documents' reports missing; :data:`EXIT_USAGE` (2), a :class:`~docanalyze.errors.UsageError` (or
one of click's), raised before any work; :data:`EXIT_INCOMPLETE` (3), every report was written
but one is incomplete (:attr:`Report.complete <docanalyze.report.result.Report.complete>` is
False: cut at ``--max-tokens``, refused, stopped by ``--max-cost``, or a request that failed for
good after others were answered: a failed chunk); 130, Ctrl-C.
"""

__all__ = ["EXIT_ERROR", "EXIT_INCOMPLETE", "EXIT_USAGE"]

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3
