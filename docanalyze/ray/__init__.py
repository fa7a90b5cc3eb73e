"""Corpus runs on a Ray cluster, with one rate limiter for the whole cluster (``--ray``).

Needs the ``ray`` extra: ``pip install 'docanalyze[ray]'``. ``import docanalyze`` never imports
this package, nor Ray.
"""
