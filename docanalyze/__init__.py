"""docanalyze: analyze documents far longer than a model's context window, with Claude.

>>> import docanalyze
>>> report = docanalyze.analyze("contract.pdf")          # doctest: +SKIP
>>> print(report.text)                                   # doctest: +SKIP

Everything a pipeline author needs is exported here, and everything the exported functions and
methods return or raise; the rest is internal.
"""

from __future__ import annotations

import lazy_loader

# The public names are listed once, in __init__.pyi; each is imported the first time it is used,
# so that ``import docanalyze`` (and the command line's ``--help``) stays quick.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
