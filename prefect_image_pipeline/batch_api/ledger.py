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

from pydantic import BaseModel, Field

from prefect_image_pipeline.edges.s3.objects import (
    S3Error,
    delete_object,
    get_bytes,
    list_objects,
    put_bytes,
)

if TYPE_CHECKING:
    from prefect_image_pipeline.edges.s3.objects import S3Client
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
        body = entry.model_dump_json(indent=1).encode()
        key = self._key("open", entry.submission)
        put_bytes(self._client, self._bucket, key, body, "application/json", "no-cache")

    def open_entries(self) -> list[LedgerEntry]:
        """Every submission not yet collected, oldest first."""
        entries: list[LedgerEntry] = []
        for listed in list_objects(self._client, self._bucket, f"{self._prefix}/open/"):
            entry = self._read(listed.key)
            if entry is not None:
                entries.append(entry)
        return sorted(entries, key=lambda entry: entry.created_at)

    def _read(self, key: str) -> LedgerEntry | None:
        try:
            body = get_bytes(self._client, self._bucket, key)
        except S3Error:
            return None  # closed by another round between the listing and this read
        return LedgerEntry.model_validate_json(body)

    def close(self, entry: LedgerEntry, outcome: str) -> None:
        """Move an entry to ``closed/`` with what became of it (kept as the record)."""
        closed = entry.model_copy(update={"outcome": outcome})
        body = closed.model_dump_json(indent=1).encode()
        key = self._key("closed", entry.submission)
        put_bytes(self._client, self._bucket, key, body, "application/json")
        delete_object(self._client, self._bucket, self._key("open", entry.submission))


def ledger_for(request: PipelineRequest) -> BatchLedger:
    """The ledger of a run: in the shared cache bucket if it has one, else the output bucket."""
    if request.cache_block:
        from prefect_image_pipeline.cache.shared import cache_bucket
        from prefect_image_pipeline.edges.s3.blocks import block_client, block_key

        block = cache_bucket(request.cache_block)
        prefix = block_key(block, "batches")  # under the block's folder, as its records
        return BatchLedger(block_client(block), block.bucket_name, prefix)
    store = request.store
    return BatchLedger(store.s3_client(), store.bucket, store.key_prefix(LEDGER_FOLDER))
