"""Listing mode, for stores that send no notifications (MinIO without a target, R2):
list the prefix again and again, and report what is new or changed since the last look.

What was seen is kept in memory only: objects that arrive while no watcher runs are not
reported (a new watcher starts from a baseline). Notifications have no such gap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefect_image_pipeline.edges.s3.objects import ListedObject, list_objects
from prefect_image_pipeline.watch.sources import NewSource, is_watched

if TYPE_CHECKING:
    from prefect_image_pipeline.edges.s3.objects import S3Client

__all__ = ["PrefixListing"]


class PrefixListing:
    """The objects under ``prefix`` in ``bucket``, compared from one listing to the next."""

    def __init__(self, client: S3Client, bucket: str, prefix: str) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self._seen: dict[str, str] = {}  # key -> ETag at the last listing

    def baseline(self) -> int:
        """Remember every object present now (none is reported); returns how many."""
        self._seen = {item.key: item.etag for item in self._list()}
        return len(self._seen)

    def new_sources(self) -> list[NewSource]:
        """The watched images added, or rewritten with other bytes (a new ETag), since the
        last listing, in key order. Each stays new until ``seen(source)``: one whose event
        could not be sent is found again by the next listing."""
        listed = self._list()
        sources = [
            NewSource(self.bucket, item.key, item.etag, item.size)
            for item in listed
            if self._seen.get(item.key) != item.etag
        ]
        watched = [source for source in sources if is_watched(source, self.bucket, self.prefix)]
        pending = {source.key for source in watched}
        self._seen = {
            item.key: item.etag if item.key not in pending else self._seen.get(item.key, "")
            for item in listed
        }
        return watched

    def seen(self, source: NewSource) -> None:
        """``source`` was announced: the next listing compares with its ETag."""
        self._seen[source.key] = source.etag

    def _list(self) -> list[ListedObject]:
        return list(list_objects(self.client, self.bucket, self.prefix))
