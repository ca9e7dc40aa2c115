"""Where a flow's step-by-step lines go: the run log by default, the terminal under the CLI."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger

Reporter = Callable[[str], None]
# (finished so far, total, input, status, public URL or error)
ProgressReporter = Callable[[int, int, str, str, str], None]


def log_to_run_logger(line: str) -> None:
    """Default reporter: the line becomes an INFO log of the current run (visible in the UI)."""
    try:
        get_run_logger().info(line.strip())
    except MissingContextError:
        logging.getLogger("flows").info(line.strip())


def log_progress(done: int, total: int, image: str, status: str, detail: str) -> None:
    """Default progress reporter: one log line per finished image."""
    log_to_run_logger(f"[{done}/{total}] {status}: {image} {detail}")


_reporter: Reporter = log_to_run_logger
_progress: ProgressReporter = log_progress


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


def report_progress(done: int, total: int, image: str, status: str, detail: str) -> None:
    """Tell the active progress reporter that one more image finished."""
    _progress(done, total, image, status, detail)


@contextmanager
def progress_to(reporter: ProgressReporter) -> Iterator[None]:
    """Route per-image progress to ``reporter`` for the duration of the block."""
    global _progress
    previous, _progress = _progress, reporter
    try:
        yield
    finally:
        _progress = previous
