"""The reprocessing manifest: which source object (at which ETag) became which output.

Stored as JSON in the bucket so every run, worker and person sees the same record.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

from prefect_image_pipeline.options.generation import GenerationOptions

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif")


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


class Manifest(BaseModel):
    """Source key -> entry. ``version`` lets a future format migrate old files."""

    version: int = 1
    entries: dict[str, ManifestEntry] = Field(default_factory=dict)

    def is_current(self, source: SourceObject, params: str) -> bool:
        """Whether ``source`` was already processed, unchanged, with these parameters."""
        entry = self.entries.get(source.key)
        return entry is not None and entry.etag == source.etag and entry.params == params

    def record(
        self, source: SourceObject, params: str, output_key: str, s3_url: str, public_url: str
    ) -> None:
        """Remember a finished source."""
        self.entries[source.key] = ManifestEntry(
            etag=source.etag,
            params=params,
            output_key=output_key,
            s3_url=s3_url,
            public_url=public_url,
            processed_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )


def params_fingerprint(options: GenerationOptions, destination: str) -> str:
    """A short hash of everything that changes the output of a source."""
    payload = json.dumps([*options.fingerprint(), destination])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def list_sources(client: S3Client, bucket: str, prefix: str, exclude: str) -> list[SourceObject]:
    """Image objects under ``prefix`` (by suffix), skipping anything under ``exclude``."""
    found: list[SourceObject] = []
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if exclude and key.startswith(exclude):
                continue
            if key.lower().endswith(IMAGE_SUFFIXES):
                found.append(SourceObject(key=key, etag=item["ETag"].strip('"'), size=item["Size"]))
    return found


def load_manifest(client: S3Client, bucket: str, key: str) -> Manifest:
    """The stored manifest, or an empty one if there is none yet."""
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return Manifest()
        raise
    return Manifest.model_validate_json(body)


def save_manifest(client: S3Client, bucket: str, key: str, manifest: Manifest) -> None:
    """Write the manifest back (JSON, not cached by browsers or CDNs)."""
    client.put_object(
        Bucket=bucket,
        Key=key,
        Body=manifest.model_dump_json(indent=2).encode(),
        ContentType="application/json",
        CacheControl="no-cache",
    )
