"""Records: rows a schema describes, extracted chunk by chunk, each cited and checked, merged
across chunks (``docanalyze extract``)."""
