"""The reprocessing manifest: which source object (at which ETag) became which output.

Stored as JSON in the bucket so every run, worker and person sees the same record.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from prefect_image_pipeline.batch.outcomes import ImageOutcome
from prefect_image_pipeline.edges.s3.objects import get_bytes_if_present, list_objects, put_bytes
from prefect_image_pipeline.formats import IMAGE_SUFFIXES
from prefect_image_pipeline.options.generation import GenerationOptions
from prefect_image_pipeline.options.run import PublishOptions

if TYPE_CHECKING:
    from prefect_image_pipeline.edges.s3.objects import S3Client


class SourceObject(BaseModel):
    """An object found under the source prefix."""

    key: str
    etag: str
    size: int


class ManifestEntry(BaseModel):
    """What one source produced, and under which parameters."""

    etag: str
    params: str
    output_key: str
    s3_url: str
    public_url: str
    processed_at: str
    copies: list[str] = Field(default_factory=list)  # keys of its web copies
    alias: str | None = None  # its stable key, when --alias is set


class Manifest(BaseModel):
    """Source key -> entry. ``version`` lets a future format migrate old files."""

    version: int = 1
    entries: dict[str, ManifestEntry] = Field(default_factory=dict)

    def is_current(self, source: SourceObject, params: str) -> bool:
        """Whether ``source`` was already processed, unchanged, with these parameters."""
        entry = self.entries.get(source.key)
        return entry is not None and entry.etag == source.etag and entry.params == params

    def record(self, source: SourceObject, params: str, outcome: ImageOutcome) -> None:
        """Remember a finished source: its output, web copies and alias."""
        self.entries[source.key] = ManifestEntry(
            etag=source.etag,
            params=params,
            output_key=outcome.key or "",
            s3_url=outcome.s3_url or "",
            public_url=outcome.public_url or "",
            processed_at=datetime.now(UTC).isoformat(timespec="seconds"),
            copies=[copy.key for copy in outcome.copies.copies] if outcome.copies else [],
            alias=outcome.alias.key if outcome.alias else None,
        )


def params_fingerprint(
    options: GenerationOptions, destination: str, publish: PublishOptions | None = None
) -> str:
    """A short hash of everything that changes what a source publishes.

    The web copies and alias enter it only when asked for, so manifests written before
    they existed stay current; asking for them later reprocesses each source once (its
    generation comes from the cache)."""
    extra = [asdict(publish)] if publish is not None and publish != PublishOptions() else []
    payload = json.dumps([*options.fingerprint(), destination, *extra])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def list_sources(client: S3Client, bucket: str, prefix: str, exclude: str) -> list[SourceObject]:
    """Image objects under ``prefix`` (by suffix), skipping anything under ``exclude``."""
    found: list[SourceObject] = []
    for listed in list_objects(client, bucket, prefix):
        if exclude and listed.key.startswith(exclude):
            continue
        if listed.key.lower().endswith(IMAGE_SUFFIXES):
            found.append(SourceObject(key=listed.key, etag=listed.etag, size=listed.size))
    return found


def load_manifest(client: S3Client, bucket: str, key: str) -> Manifest:
    """The stored manifest, or an empty one if there is none yet."""
    body = get_bytes_if_present(client, bucket, key)
    return Manifest() if body is None else Manifest.model_validate_json(body)


def save_manifest(client: S3Client, bucket: str, key: str, manifest: Manifest) -> None:
    """Write the manifest back (JSON, not cached by browsers or CDNs)."""
    body = manifest.model_dump_json(indent=2).encode()
    put_bytes(client, bucket, key, body, "application/json", "no-cache")
