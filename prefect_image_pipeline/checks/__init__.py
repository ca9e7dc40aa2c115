"""Per-output checks inside the pipeline: format, size, transparency, blank, drift."""
