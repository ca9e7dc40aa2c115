"""End to end: process-image in subprocesses, background servers, workers and deployments,
the installed console script."""
