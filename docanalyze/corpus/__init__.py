"""Folders of files: one report per document, an index, resumable runs."""
