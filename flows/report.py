"""Where a flow's step-by-step lines go: the run log by default, the terminal under the CLI."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger

Reporter = Callable[[str], None]


def log_to_run_logger(line: str) -> None:
    """Default reporter: the line becomes an INFO log of the current run (visible in the UI)."""
    try:
        get_run_logger().info(line.strip())
    except MissingContextError:
        logging.getLogger("flows").info(line.strip())


_reporter: Reporter = log_to_run_logger


def report(line: str) -> None:
    """Send one progress line to the active reporter."""
    _reporter(line)


@contextmanager
def reporting_to(reporter: Reporter) -> Iterator[None]:
    """Route progress lines to ``reporter`` for the duration of the block."""
    global _reporter
    previous, _reporter = _reporter, reporter
    try:
        yield
    finally:
        _reporter = previous
