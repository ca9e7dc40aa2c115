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
    """Send the event and return once the Prefect server has accepted it.

    POSTed to the server's ``/events`` rather than queued for Prefect's background events
    worker: a queued event dies with the process, and the queue's message (deleted once
    this returns) would be gone with it. Raises when the server refuses or cannot be
    reached, so the message stays and comes back.
    """
    from prefect.client.orchestration import get_client
    from prefect.events import Event, Resource

    event = Event(
        event=SOURCE_CREATED_EVENT,
        resource=Resource({"prefect.resource.id": source.uri, "prefect.resource.name": source.key}),
        payload={
            "bucket": source.bucket,
            "key": source.key,
            "etag": source.etag,
            "size": source.size,
        },
        id=source_event_id(source),
    )
    with get_client(sync_client=True) as client:
        client.request("POST", "/events", json=[event.model_dump(mode="json")]).raise_for_status()
