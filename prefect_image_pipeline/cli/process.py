"""``process-image`` as a process: how it starts (through the warm process when one is up,
else early server start and paused garbage collection) and how it exits (no interpreter
teardown; a warm process started for the next run). The flags and the run are cli.main.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
from contextlib import suppress

# Flags after which no run follows, or that ask for no background server.
_EARLY_START_EXCEPTIONS = {"-h", "--help", "--server-status", "--stop-server", "--ephemeral-server"}


def console_main() -> None:
    """The ``process-image`` command: main(), then exit without tearing the interpreter down.

    Finalising the ~2,000 modules Prefect, openai and boto3 load took 0.7-1.7 s here, longer
    than the run of a cached image. Exit handlers still run first (Prefect drains its log and
    event queues in them; coverage saves its data), and both streams are flushed.
    """
    argv = sys.argv[1:]
    from prefect_image_pipeline.cli.warm.client import run_warm

    warm = run_warm(argv)  # a child of the warm process did the run, if it could
    if warm is not None:
        os._exit(warm)
    started_with = dict(os.environ)
    # Imports make ~2,000 modules of long-lived objects, and the collector keeps rescanning
    # them: collecting only after startup (startup_done) saved ~0.4 s a run here.
    gc.disable()
    if argv and not _EARLY_START_EXCEPTIONS.intersection(argv):
        from prefect_image_pipeline.edges.prefect_server.connect import prepare_early

        # Only a head start: whatever goes wrong here, connect_and_announce meets and reports.
        with suppress(Exception):
            prepare_early()
    from prefect_image_pipeline.cli.main import main

    code = main(argv)
    from prefect_image_pipeline.cli.warm.spawn import start_warm_process

    with suppress(Exception):  # only ever a speed-up for the next run
        start_warm_process(argv, started_with)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
