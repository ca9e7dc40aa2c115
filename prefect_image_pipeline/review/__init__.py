"""Seeing what came out: checks on every output, thumbnails, and the review reports.

``checks`` flags the obvious misses (wrong format or size, no transparency where it was
asked for, a blank image, a recreation that drifted from its source) and records them
with the image's outcome; ``thumbnails`` makes the small embedded previews the artifacts
and the HTML page show; ``report`` writes the contact sheet (HTML) and its machine-readable
twin (JSON lines) that ``--redo-flagged`` reads back (``redo``).
"""
