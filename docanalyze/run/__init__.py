"""One analysis from document to report: the pipeline, its stages (map, reduce, final) and what they share."""
