"""Runs that send nothing: the plan (requests, tokens, cost, time) and the dry run's prompts."""
