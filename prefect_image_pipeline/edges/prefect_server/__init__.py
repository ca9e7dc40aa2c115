"""A Prefect server kept running in the background and reused by every local run.

Prefect's alternative, a temporary server per process, costs most of a single image's run
time (shared/NOTES.md). ``state`` records what we started, ``process`` starts, probes and
stops it, ``ports`` picks its port (another one when the configured one is taken), ``manager``
decides (reuse, replace or start) under a lock, and ``connect`` points this process at the
right API. None of it imports Prefect's engine: the CLI decides before it pays for that
import.
"""
