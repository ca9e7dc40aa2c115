"""The ``watch-sources`` flow: turn new images under an S3 prefix into Prefect events.

Each new object becomes an ``image-pipeline.source.created`` event (watch.emit), which a
deployment trigger can turn into a process-image run. With ``queue_url``, it reads the
SQS queue the bucket's event notifications go to; without, it lists the prefix every
``poll_seconds`` (for stores without notifications). It runs until cancelled, or for
``max_minutes``.
"""

from __future__ import annotations

import threading
from typing import Annotated

from prefect import get_run_logger
from pydantic import Field

from prefect_image_pipeline.options.parameters import with_parameters
from prefect_image_pipeline.pipeline.flow import pipeline_flow
from prefect_image_pipeline.watch.loop import watch

__all__ = ["watch_sources"]

PrefixParam = Annotated[
    str,
    Field(
        description="The S3 prefix to watch, as s3://bucket/prefix/ (s3://bucket/ for all).",
        pattern=r"^\s*[sS]3://",
        min_length=8,
    ),
]
QueueParam = Annotated[
    str | None,
    Field(
        description="URL of the SQS queue the bucket sends ObjectCreated notifications to; "
        "empty: list the prefix every poll_seconds instead.",
    ),
]
PollParam = Annotated[
    float,
    Field(
        description="Seconds between listings; with a queue, the long poll (at most 20 s).",
        ge=0.1,
        le=3600,
    ),
]
MinutesParam = Annotated[
    float | None,
    Field(description="Stop after this many minutes; empty: run until cancelled.", gt=0),
]


@pipeline_flow(name="watch-sources")
@with_parameters()  # the descriptions below become the form's, through the docstring
def watch_sources(
    prefix: PrefixParam,
    queue_url: QueueParam = None,
    poll_seconds: PollParam = 10.0,
    max_minutes: MinutesParam = None,
) -> int:
    """Announce every new image under ``prefix``; returns how many were announced."""
    stop = threading.Event()
    timer = None
    if max_minutes is not None:
        timer = threading.Timer(max_minutes * 60, stop.set)
        timer.daemon = True
        timer.start()
    try:
        return watch(
            prefix,
            queue_url=queue_url or None,
            poll_seconds=poll_seconds,
            stop=stop,
            logger=get_run_logger(),
        )
    finally:
        if timer is not None:
            timer.cancel()
