"""What a new source is, and how to find them in S3 event notifications.

A notification reaches a queue straight from S3 or wrapped by SNS; both are read here.
Keys in notifications are URL-encoded (``red flower.jpg`` arrives as ``red+flower.jpg``)
and are decoded once, here. Pure functions: no network, no Prefect.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote_plus

from prefect_image_pipeline.errors import InvalidImageSourceError
from prefect_image_pipeline.formats import IMAGE_SUFFIXES
from prefect_image_pipeline.steps.upload import is_output_key

__all__ = [
    "IMAGE_SUFFIXES",
    "NewSource",
    "NotificationError",
    "is_watched",
    "parse_prefix_uri",
    "sources_in_notification",
]

# The file names of the formats the pipeline reads (formats.SUPPORTED_FORMATS: PNG, JPEG,
# WEBP or GIF).
# S3's rule for bucket names (3-63 characters: lowercase letters, digits, dots, hyphens).
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# Escaped in a URI so inputs.parse_s3_uri gives the key back exactly: "%" (it unquotes),
# "#" and "?" (urlsplit would cut the key there), control characters (urlsplit drops some).
_ESCAPED_IN_URI = frozenset("%#?") | {chr(code) for code in [*range(32), 127]}


class NotificationError(ValueError):
    """A queue message that is not an S3 event notification; it can never be read."""


@dataclass(frozen=True)
class NewSource:
    """An object that appeared (or changed) under the watched prefix."""

    bucket: str
    key: str
    etag: str
    size: int

    @property
    def uri(self) -> str:
        """``s3://bucket/key``, the input process-image takes (see inputs.parse_s3_uri)."""
        escaped = "".join(f"%{ord(c):02X}" if c in _ESCAPED_IN_URI else c for c in self.key)
        return f"s3://{self.bucket}/{escaped}"


def parse_prefix_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix/`` -> ``("bucket", "some/prefix/")``; the prefix may be "".

    The prefix is matched as S3 matches it: ``in`` also covers ``inbox/``, ``in/`` does not.
    """
    text = uri.strip()
    if text[:5].lower() == "s3://":
        bucket, _, prefix = text[5:].partition("/")
        if _BUCKET_NAME.fullmatch(bucket):
            return bucket, prefix
    raise InvalidImageSourceError(
        f"Cannot watch {uri!r}: expected s3://bucket/prefix/ (for example "
        "s3://my-bucket/incoming/), or s3://my-bucket/ for the whole bucket"
    )


def is_watched(source: NewSource, bucket: str, prefix: str) -> bool:
    """Whether ``source`` is an image file under ``prefix`` in ``bucket``: not a "folder",
    not one of our outputs (``…/1796639601_generated_logo.png``)."""
    return (
        source.bucket == bucket
        and source.key.startswith(prefix)
        and not source.key.endswith("/")
        and PurePosixPath(source.key).suffix.lower() in IMAGE_SUFFIXES
        and not is_output_key(source.key)  # an output in the watched prefix: never a loop
    )


def sources_in_notification(body: str) -> list[NewSource]:
    """The created objects an S3 event notification (direct or SNS-wrapped) reports.

    ``s3:TestEvent`` and other events (removals, restores) give []; a body that is not
    a notification raises NotificationError. Filter the result with ``is_watched``.
    """
    document = _json_object(body)
    if document.get("Type") == "Notification" and isinstance(document.get("Message"), str):
        document = _json_object(document["Message"])  # delivered through an SNS topic
    if document.get("Event") == "s3:TestEvent":
        return []
    records = document.get("Records")
    if not isinstance(records, list):
        raise NotificationError(
            f"not an S3 event notification (no Records): {body[:200]!r}; send the bucket's "
            "event notifications (or an SNS topic that carries them) to this queue"
        )
    return [_source(record) for record in records if _is_created(record)]


def _json_object(text: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise NotificationError(f"not JSON ({exc}): {text[:200]!r}") from None
    if not isinstance(document, dict):
        raise NotificationError(f"not a JSON object: {text[:200]!r}")
    return document


def _is_created(record: Any) -> bool:
    # AWS writes "ObjectCreated:Put"; MinIO and Ceph write "s3:ObjectCreated:Put".
    name = record.get("eventName", "") if isinstance(record, dict) else ""
    return isinstance(name, str) and name.removeprefix("s3:").startswith("ObjectCreated:")


def _source(record: dict[str, Any]) -> NewSource:
    try:
        s3 = record["s3"]
        bucket, item = s3["bucket"]["name"], s3["object"]
        return NewSource(
            bucket=str(bucket),
            key=unquote_plus(str(item["key"])),
            etag=str(item.get("eTag", "")).strip('"'),
            size=int(item.get("size", 0)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise NotificationError(f"an ObjectCreated record without {exc}: {record!r}") from None
