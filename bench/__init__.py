"""Benchmark of the process-images flow against loopback fakes (see docs/benchmarks.md)."""
