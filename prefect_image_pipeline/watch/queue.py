"""Notification mode: drain one long-poll batch of an SQS queue that S3 notifies.

At least once: a message is deleted only after every source it names was handed on and
the handler returned, so a crash (or a handler that raises) leaves it to be delivered
again once its visibility timeout passes. Handlers must therefore accept a repeat.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from prefect_image_pipeline.edges import sqs
from prefect_image_pipeline.watch.sources import (
    NewSource,
    NotificationError,
    is_watched,
    sources_in_notification,
)

__all__ = ["drain_batch"]

Logger = logging.Logger | logging.LoggerAdapter[Any]
_LOG = logging.getLogger(__name__)


def drain_batch(
    queue_url: str,
    bucket: str,
    prefix: str,
    on_source: Callable[[NewSource], None],
    *,
    wait_seconds: int,
    logger: Logger = _LOG,
) -> int:
    """Receive one batch, hand each watched source to ``on_source``, delete each message.

    Returns how many sources were handed on. A message that is not a notification can
    never be read: it is logged and deleted rather than delivered again forever.
    """
    handed = 0
    for message in sqs.receive(queue_url, wait_seconds):
        try:
            sources = sources_in_notification(message.body)
        except NotificationError as exc:
            logger.warning("Deleting message %s of %s: %s", message.message_id, queue_url, exc)
            sources = []
        for source in sources:
            if is_watched(source, bucket, prefix):
                on_source(source)
                handed += 1
        sqs.delete(queue_url, message.receipt_handle)
    return handed
