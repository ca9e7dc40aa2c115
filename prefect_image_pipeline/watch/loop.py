"""The watcher: announce each new source under a prefix until told to stop.

Two modes, one loop. With a queue URL, it long-polls the SQS queue the bucket notifies
(watch.queue): at least once, nothing missed while it was down (within the queue's
retention). Without, it lists the prefix every ``poll_seconds`` (watch.listing): for
stores without notifications, starting from a baseline of what is there already.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable

from prefect_image_pipeline.announce.names import SOURCE_CREATED_EVENT
from prefect_image_pipeline.edges.s3.client import s3_client_from_env
from prefect_image_pipeline.edges.sqs import MAX_WAIT_SECONDS
from prefect_image_pipeline.errors import explain
from prefect_image_pipeline.watch.emit import announce_source
from prefect_image_pipeline.watch.listing import PrefixListing
from prefect_image_pipeline.watch.queue import Logger, drain_batch
from prefect_image_pipeline.watch.sources import NewSource, parse_prefix_uri

__all__ = ["watch"]

_LOG = logging.getLogger(__name__)


def watch(
    prefix_uri: str,
    *,
    queue_url: str | None,
    poll_seconds: float,
    stop: threading.Event,
    on_source: Callable[[NewSource], None] = announce_source,
    max_sources: int | None = None,
    logger: Logger = _LOG,
) -> int:
    """Hand every new image under ``prefix_uri`` to ``on_source`` until ``stop`` is set
    (or ``max_sources`` were handed on); returns how many were.

    ``stop`` is seen between polls: a long poll (up to min(poll_seconds, 20) s) ends
    first, and the batch or listing in hand is finished, so none is lost half-handled.
    """
    bucket, prefix = parse_prefix_uri(prefix_uri)
    counter = _Counter(on_source, logger)

    def done() -> bool:
        return stop.is_set() or (max_sources is not None and counter.count >= max_sources)

    retry = _Retry(prefix_uri, poll_seconds, stop, logger)
    if queue_url:
        wait = long_poll_seconds(poll_seconds)
        logger.info("Watching %s through %s (long polls of %d s)", prefix_uri, queue_url, wait)
        while not done():
            retry.poll(
                lambda: drain_batch(
                    queue_url, bucket, prefix, counter, wait_seconds=wait, logger=logger
                )
            )
        return counter.count
    listing = PrefixListing(s3_client_from_env(), bucket, prefix)
    known = listing.baseline()  # a wrong bucket or credentials: refused now
    retry.succeeded = True  # the store answered: a later failure is a passing one
    logger.info(
        "Watching %s by listing it every %s s; the %d objects there now are not announced",
        prefix_uri,
        poll_seconds,
        known,
    )

    def announce_new() -> None:
        for source in listing.new_sources():
            counter(source)
            listing.seen(source)

    while not done() and not stop.wait(poll_seconds):
        retry.poll(announce_new)
    return counter.count


class _Retry:
    """One poll at a time: the first one's error ends the watcher (a wrong queue, bucket
    or credentials); a later one is logged and tried again after a growing pause."""

    def __init__(
        self, prefix_uri: str, poll_seconds: float, stop: threading.Event, logger: Logger
    ) -> None:
        self.prefix_uri, self.stop, self.logger = prefix_uri, stop, logger
        self.first_pause = max(1.0, poll_seconds)
        self.succeeded = False
        self.failures = 0

    def poll(self, attempt: Callable[[], object]) -> None:
        try:
            attempt()
        except Exception as exc:
            if not self.succeeded:
                raise
            self.failures += 1
            pause = min(MAX_PAUSE_SECONDS, self.first_pause * 2.0 ** (self.failures - 1))
            self.logger.warning(
                "Watching %s: %s; trying again in %.0f s", self.prefix_uri, explain(exc), pause
            )
            self.stop.wait(pause)
            return
        self.succeeded, self.failures = True, 0


# The longest pause after failed polls in a row (S3, SQS or the Prefect server away).
MAX_PAUSE_SECONDS = 60.0


def long_poll_seconds(poll_seconds: float) -> int:
    """SQS's WaitTimeSeconds for ``poll_seconds``: whole seconds, 1 to 20 (0 would spin)."""
    return max(1, min(math.ceil(poll_seconds), MAX_WAIT_SECONDS))


class _Counter:
    """``on_source`` with a count and the INFO line each handed-on source gets."""

    def __init__(self, on_source: Callable[[NewSource], None], logger: Logger) -> None:
        self.on_source = on_source
        self.logger = logger
        self.count = 0

    def __call__(self, source: NewSource) -> None:
        self.on_source(source)
        self.count += 1
        self.logger.info(
            "New source %s (etag %s): %s emitted", source.uri, source.etag, SOURCE_CREATED_EVENT
        )
