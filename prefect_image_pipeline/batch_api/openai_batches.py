"""OpenAI's Files and Batches endpoints, as batch mode uses them (the real openai client).

Submission writes the ledger's intent first, uploads the input file, creates the batch
with our submission id in its metadata, then records the batch id. Adoption finds the
batch of an intent whose id was never recorded (the run died in between) by that
metadata, so a crash never leads to a second batch for the same images.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
from openai.types import Batch

from prefect_image_pipeline.batch_api.ledger import BatchLedger, LedgerEntry
from prefect_image_pipeline.edges.openai.errors import translate_openai_error

SUBMISSION_KEY = "image_pipeline_submission"
RUN_KEY = "image_pipeline_run"
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
# The input file must outlive the 24 h window; answers must wait for the next round.
INPUT_FILE_SECONDS = 2 * 86_400
OUTPUT_FILE_SECONDS = 7 * 86_400
# An intent younger than this may belong to a run creating its batch right now.
INTENT_GRACE_SECONDS = 600.0


def _expiry(seconds: int) -> Any:
    return {"anchor": "created_at", "seconds": seconds}


def create_batch(
    client: openai.OpenAI, ledger: BatchLedger, entry: LedgerEntry, jsonl: Path
) -> LedgerEntry:
    """Upload ``jsonl`` and create its batch; the ledger holds the entry at every step."""
    ledger.save(entry)  # the intent, before anything is paid for
    try:
        with jsonl.open("rb") as body:
            uploaded = client.files.create(
                file=(jsonl.name, body, "application/jsonl"),
                purpose="batch",
                expires_after=_expiry(INPUT_FILE_SECONDS),
            )
        batch = client.batches.create(
            input_file_id=uploaded.id,
            endpoint=entry.endpoint,  # type: ignore[arg-type]
            completion_window="24h",
            metadata={SUBMISSION_KEY: entry.submission, RUN_KEY: entry.submitted_by[:512]},
            output_expires_after=_expiry(OUTPUT_FILE_SECONDS),
        )
    except openai.APIError as exc:
        ledger.close(entry, f"not submitted: {exc.__class__.__name__}")
        raise translate_openai_error(exc, "the Batch API") from exc
    recorded = entry.model_copy(update={"batch_id": batch.id, "status": batch.status})
    ledger.save(recorded)
    return recorded


def recent_batches(client: openai.OpenAI, since: float) -> Iterator[Batch]:
    """Batches created after ``since`` (Unix time), newest first."""
    for batch in client.batches.list(limit=100):
        if batch.created_at < since:
            return
        yield batch


def adopt_orphans(
    client: openai.OpenAI, ledger: BatchLedger, entries: list[LedgerEntry], now: float
) -> list[LedgerEntry]:
    """``entries`` with each intent's batch found by its metadata; stale intents closed."""
    intents = [entry for entry in entries if entry.batch_id is None]
    if not intents:
        return entries
    since = min(entry.created_at for entry in intents) - 300  # clocks of hosts differ
    found = {
        (batch.metadata or {}).get(SUBMISSION_KEY): batch for batch in recent_batches(client, since)
    }
    kept: list[LedgerEntry] = []
    for entry in entries:
        batch = found.get(entry.submission) if entry.batch_id is None else None
        if batch is not None:
            adopted = entry.model_copy(update={"batch_id": batch.id, "status": batch.status})
            ledger.save(adopted)
            kept.append(adopted)
        elif entry.batch_id is None and now - entry.created_at > INTENT_GRACE_SECONDS:
            ledger.close(entry, "never created: its images return to the queue")
        else:
            kept.append(entry)
    return kept


def retrieve(client: openai.OpenAI, batch_id: str) -> Batch:
    """The batch's current state."""
    try:
        return client.batches.retrieve(batch_id)
    except openai.APIError as exc:
        raise translate_openai_error(exc, "the Batch API") from exc


def file_lines(client: openai.OpenAI, file_id: str | None) -> Iterator[str]:
    """The lines of an output or error file, streamed (answers can be gigabytes)."""
    if not file_id:
        return
    with client.files.with_streaming_response.content(file_id) as response:
        for line in response.iter_lines():
            if line.strip():
                yield line


def wait_until_done(
    client: openai.OpenAI,
    batch_ids: list[str],
    poll_seconds: float,
    say: Any,
    sleep: Any = time.sleep,
) -> None:
    """Poll until every batch has ended, saying each change of status."""
    last: dict[str, str] = {}
    while True:
        open_ids = []
        for batch_id in batch_ids:
            batch = retrieve(client, batch_id)
            counts = batch.request_counts
            shown = f"{batch.status}" + (
                f", {counts.completed + counts.failed}/{counts.total} done" if counts else ""
            )
            if last.get(batch_id) != shown:
                say(f"Batch {batch_id}: {shown}")
                last[batch_id] = shown
            if batch.status not in TERMINAL:
                open_ids.append(batch_id)
        if not open_ids:
            return
        batch_ids = open_ids
        sleep(poll_seconds)
