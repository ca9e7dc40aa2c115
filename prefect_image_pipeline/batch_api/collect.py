"""Collect finished batches: download their answers, publish them, report every line.

For each open ledger entry whose batch has ended: the output file's answers are written
one file per ``custom_id`` (matched by id: OpenAI does not keep the input's order), the
entry's own parameters are resolved again and its answered inputs run through the normal
pipeline with batch_api.answers' generator (cache filled, image uploaded, cost at
the batch price); each error-file line becomes that input's failure with OpenAI's reason;
a line in neither file (the batch expired or was cancelled first) goes back to the queue:
it is simply not cached, so the next round submits it again. Then the entry is closed.
A round killed halfway collects again next time: everything already done is a cache hit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import openai
from openai.types import Batch

from prefect_image_pipeline.batch.outcomes import ImageOutcome
from prefect_image_pipeline.batch.runner import run_batch
from prefect_image_pipeline.batch_api.answers import BatchAnswers, answer_path
from prefect_image_pipeline.batch_api.ledger import BatchLedger, LedgerEntry
from prefect_image_pipeline.batch_api.openai_batches import (
    TERMINAL,
    adopt_orphans,
    file_lines,
    retrieve,
)
from prefect_image_pipeline.options.run import RunOptions


@dataclass
class Collected:
    """What one ended batch answered: ids with an answer on disk, ids with a reason."""

    answered: set[str] = field(default_factory=set)
    errors: dict[str, str] = field(default_factory=dict)


def _line_error(line: dict[str, Any]) -> str | None:
    """Why a line failed, or None when it holds an answer."""
    response = line.get("response") or {}
    if line.get("error"):
        error = line["error"]
        return f"{error.get('code') or 'error'}: {error.get('message') or 'no message'}"
    if response.get("status_code") != 200:
        error = (response.get("body") or {}).get("error") or {}
        code = error.get("code") or error.get("type") or f"HTTP {response.get('status_code')}"
        return f"{code}: {error.get('message') or 'no message'}"
    return None


def download(client: openai.OpenAI, batch: Batch, answers: Path) -> Collected:
    """The batch's output and error files, one answer file per custom_id."""
    collected = Collected()
    answers.mkdir(parents=True, exist_ok=True)
    for file_id in (batch.output_file_id, batch.error_file_id):
        for text in file_lines(client, file_id):
            line = json.loads(text)
            custom_id = str(line.get("custom_id"))
            reason = _line_error(line)
            if reason is None:
                body = line["response"]["body"]
                answer_path(answers, custom_id).write_text(json.dumps(body), encoding="utf-8")
                collected.answered.add(custom_id)
            else:
                collected.errors[custom_id] = f"OpenAI's Batch API refused it ({reason})"
    return collected


def collect_entry(
    client: openai.OpenAI,
    ledger: BatchLedger,
    entry: LedgerEntry,
    batch: Batch,
    work_dir: Path,
    concurrency: int,
) -> dict[str, ImageOutcome]:
    """Publish one ended batch; outcomes by custom_id (returned ids have none)."""
    from prefect_image_pipeline.pipeline.request import resolve_request

    answers = work_dir / "answers"
    collected = download(client, batch, answers)
    if batch.status == "failed":
        reason = _failure(batch)
        for custom_id in entry.requests:
            if custom_id not in collected.answered:
                collected.errors.setdefault(custom_id, reason)
    outcomes: dict[str, ImageOutcome] = {
        custom_id: ImageOutcome.failed(entry.requests[custom_id], reason)
        for custom_id, reason in collected.errors.items()
        if custom_id in entry.requests
    }
    answered = [c for c in entry.requests if c in collected.answered]
    if answered:
        request = resolve_request(RunOptions.from_parameters(entry.parameters))
        request = replace(
            request, generator=replace(request.generator, answers=BatchAnswers(answers))
        )
        inputs = [entry.requests[c] for c in answered]
        report = run_batch(
            inputs, request, work_dir / "publish", concurrency, key="collect-batches"
        )
        by_input = {outcome.input: outcome for outcome in report.outcomes}
        outcomes.update({c: by_input[entry.requests[c]] for c in answered})
    returned = len(entry.requests) - len(outcomes)
    ledger.close(entry, _summary(batch, outcomes, returned))
    return outcomes


def _failure(batch: Batch) -> str:
    errors = batch.errors.data if batch.errors and batch.errors.data else []
    detail = f"{errors[0].code}: {errors[0].message}" if errors else "no reason given"
    return f"OpenAI's Batch API failed batch {batch.id} ({detail})"


def _summary(batch: Batch, outcomes: dict[str, ImageOutcome], returned: int) -> str:
    published = sum(1 for o in outcomes.values() if o.status == "uploaded")
    failed = len(outcomes) - published
    text = f"{batch.status}: {published} published, {failed} failed"
    return text + (f", {returned} returned to the queue" if returned else "")


def collect_ended(
    client: openai.OpenAI, ledger: BatchLedger, work_dir: Path, concurrency: int, now: float
) -> tuple[dict[str, ImageOutcome], list[LedgerEntry]]:
    """Collect every ended batch of the ledger; also the entries still open afterwards."""
    outcomes: dict[str, ImageOutcome] = {}
    still_open: list[LedgerEntry] = []
    for entry in adopt_orphans(client, ledger, ledger.open_entries(), now):
        if entry.batch_id is None:
            still_open.append(entry)  # an intent another run is creating right now
            continue
        batch = retrieve(client, entry.batch_id)
        if batch.status not in TERMINAL:
            still_open.append(entry)
            continue
        outcomes.update(collect_entry(client, ledger, entry, batch, work_dir, concurrency))
    return outcomes, still_open
