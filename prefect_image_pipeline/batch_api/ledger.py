"""The batch ledger: every batch we submit, recorded in the bucket before the run returns.

One JSON object per submission under ``<ledger>/open/``; a collected one moves to
``<ledger>/closed/``. The record is written twice: as an intent *before* the batch is
created (our submission id, which also goes in the batch's metadata), then with the
batch id. A run killed between creating a batch and recording its id therefore leaves an
intent; the next round finds the batch by its metadata and adopts it instead of paying
for a second one (prefect_image_pipeline.batch_api.submit.adopt_orphans).

The ledger lives in the shared cache bucket when the run has one (every host sees it),
else in the publishing bucket, under ``image-pipeline/batches`` (docs/batch.md).
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from prefect_image_pipeline.pipeline.request import PipelineRequest

LEDGER_FOLDER = "image-pipeline/batches"


class LedgerEntry(BaseModel):
    """One submission: what was asked, for which inputs, under which parameters."""

    submission: str = Field(default_factory=lambda: uuid.uuid4().hex)
    batch_id: str | None = None
    endpoint: str
    created_at: float = Field(default_factory=time.time)
    submitted_by: str = ""  # the flow run that submitted it (also in the metadata)
    # The flow's parameters (names of blocks, never secrets), so any later round, even
    # collect-batches with none of its own, publishes the answers where they were meant to go.
    parameters: dict[str, Any]
    requests: dict[str, str]  # custom_id -> input
    status: str = "submitting"
    outcome: str = ""  # set when closed: what became of it


class BatchLedger:
    """The open and closed submissions under one prefix of one bucket."""

    def __init__(self, client: S3Client, bucket: str, prefix: str) -> None:
        self._client, self._bucket, self._prefix = client, bucket, prefix.strip("/")

    def _key(self, state: str, submission: str) -> str:
        return f"{self._prefix}/{state}/{submission}.json"

    def save(self, entry: LedgerEntry) -> None:
        """Write (or rewrite) an open entry."""
        self._client.put_object(
            Bucket=self._bucket,
            Key=self._key("open", entry.submission),
            Body=entry.model_dump_json(indent=1).encode(),
            ContentType="application/json",
            CacheControl="no-cache",
        )

    def open_entries(self) -> list[LedgerEntry]:
        """Every submission not yet collected, oldest first."""
        entries: list[LedgerEntry] = []
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=f"{self._prefix}/open/"):
            for item in page.get("Contents", []):
                entry = self._read(item["Key"])
                if entry is not None:
                    entries.append(entry)
        return sorted(entries, key=lambda entry: entry.created_at)

    def _read(self, key: str) -> LedgerEntry | None:
        try:
            body = self._client.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except ClientError:
            return None  # closed by another round between the listing and this read
        return LedgerEntry.model_validate_json(body)

    def close(self, entry: LedgerEntry, outcome: str) -> None:
        """Move an entry to ``closed/`` with what became of it (kept as the record)."""
        closed = entry.model_copy(update={"outcome": outcome})
        self._client.put_object(
            Bucket=self._bucket,
            Key=self._key("closed", entry.submission),
            Body=closed.model_dump_json(indent=1).encode(),
            ContentType="application/json",
        )
        self._client.delete_object(Bucket=self._bucket, Key=self._key("open", entry.submission))


def ledger_for(request: PipelineRequest) -> BatchLedger:
    """The ledger of a run: in the shared cache bucket if it has one, else the output bucket."""
    if request.cache_block:
        from prefect_image_pipeline.cache.shared import bucket_client, cache_bucket

        block = cache_bucket(request.cache_block)
        prefix = block._resolve_path("batches")  # under the block's folder, as its records
        return BatchLedger(bucket_client(block), block.bucket_name, prefix)
    store = request.store
    return BatchLedger(store.s3_client(), store.bucket, store.key_prefix(LEDGER_FOLDER))
