"""The Prefect event a new source emits: ``image-pipeline.source.created``.

Its resource is the object's ``s3://`` URI, its payload bucket, key, ETag and size. The
event id is derived from the URI and the ETag, so the same object delivered twice (SQS
delivers at least once) is the same event, which the Prefect server stores once.
"""

from __future__ import annotations

import uuid

from prefect_image_pipeline.announce.names import SOURCE_CREATED_EVENT
from prefect_image_pipeline.watch.sources import NewSource

__all__ = ["announce_source", "source_event_id"]


def source_event_id(source: NewSource) -> uuid.UUID:
    """The event's id: the same for the same bytes under the same key, new for new bytes."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{source.uri}?etag={source.etag}")


def announce_source(source: NewSource) -> None:
    """Emit the event; raises RuntimeError when this process sends no Prefect events.

    Returns once the event is queued for Prefect's events worker, which sends it in the
    background (EventsWorker.drain_all() waits for that).
    """
    from prefect.events import emit_event

    emitted = emit_event(
        event=SOURCE_CREATED_EVENT,
        resource={"prefect.resource.id": source.uri, "prefect.resource.name": source.key},
        payload={
            "bucket": source.bucket,
            "key": source.key,
            "etag": source.etag,
            "size": source.size,
        },
        id=source_event_id(source),
    )
    if emitted is None:
        raise RuntimeError(
            f"{SOURCE_CREATED_EVENT} for {source.uri} was not emitted: this process sends no "
            "Prefect events. Set PREFECT_API_URL to the server whose deployment triggers "
            "should see it (prefect config set PREFECT_API_URL=...)"
        )
