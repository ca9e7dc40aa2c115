"""Batch machinery: the fan-out runner, per-image outcomes, the UI artifacts, warm-up of a
batch's clients, and the manifest that lets nightly reprocessing skip unchanged sources."""
