"""A run in batch mode: rounds of collect, publish what is ready, submit the rest, wait.

Each round (prefect_image_pipeline.batch_api.__init__ has the picture):
1. collect every ended batch of the ledger (whoever submitted it);
2. read this run's inputs: the cached ones are published now through the normal
   pipeline (no call: their answers are in the cache), the ones in an open batch wait;
3. submit one batch (per 50,000 lines / 200 MB) for the rest, recorded in the ledger;
4. with ``wait``, poll until this run's batches end and go round again (at most
   ``MAX_ROUNDS``: a batch that expires twice leaves its images for the next run).
Without ``wait`` the run ends after step 3: its images are reported ``submitted`` with
their batch id, and the next round (any run, or collect-batches) publishes them.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from prefect_image_pipeline.batch.outcomes import BatchReport, ImageOutcome
from prefect_image_pipeline.batch.runner import run_batch
from prefect_image_pipeline.batch_api.answers import BatchAnswers
from prefect_image_pipeline.batch_api.collect import collect_ended
from prefect_image_pipeline.batch_api.ledger import BatchLedger, LedgerEntry, ledger_for
from prefect_image_pipeline.batch_api.lines import endpoint_for
from prefect_image_pipeline.batch_api.openai_batches import create_batch, wait_until_done
from prefect_image_pipeline.batch_api.prepare import Prepared, prepare_all
from prefect_image_pipeline.batch_api.spool import LineSpool
from prefect_image_pipeline.edges.openai.client import openai_client
from prefect_image_pipeline.errors import InvalidOptionsError
from prefect_image_pipeline.options.run import BatchModeOptions, RunOptions
from prefect_image_pipeline.pipeline.jobs import unique_inputs
from prefect_image_pipeline.pipeline.reporter import report
from prefect_image_pipeline.pipeline.request import PipelineRequest
from prefect_image_pipeline.settings.config import settings

MAX_ROUNDS = 3


def submit_spool(
    client: Any,
    ledger: BatchLedger,
    spool: LineSpool,
    endpoint: str,
    parameters: dict[str, Any],
    submitted_by: str,
) -> list[LedgerEntry]:
    """One batch per spooled file, each in the ledger before the next is created."""
    entries = []
    for spooled in spool.files:
        entry = LedgerEntry(
            endpoint=endpoint,
            parameters=parameters,
            requests=spooled.requests,
            submitted_by=submitted_by,
        )
        entry = create_batch(client, ledger, entry, spooled.path)
        report(
            f"Submitted {len(spooled.requests)} image(s) to OpenAI's Batch API: {entry.batch_id}"
        )
        entries.append(entry)
    return entries


def _with_batch_cost(outcome: ImageOutcome, collected: ImageOutcome | None) -> ImageOutcome:
    """A published outcome carrying what its batch line cost, when collected this run."""
    if collected is None or collected.status != "uploaded" or collected.cost is None:
        return outcome
    return outcome.model_copy(update={"cost": collected.cost, "generation_cached": False})


def run_batch_mode(
    inputs: list[str],
    request: PipelineRequest,
    parameters: dict[str, Any],
    work_dir: Path,
    concurrency: int,
    *,
    wait: bool,
    submitted_by: str,
    sleep: Callable[[float], None] = time.sleep,
) -> BatchReport:
    """Every input ends uploaded, failed with its reason, or submitted with its batch id."""
    client = openai_client(request.generator.credentials_block)
    ledger = ledger_for(request)
    endpoint = endpoint_for(request.options.api)
    answers = work_dir / "answers"
    answering = replace(
        request, generator=replace(request.generator, answers=BatchAnswers(answers))
    )
    outcomes: dict[str, ImageOutcome] = {}
    todo = unique_inputs(inputs)
    waiting: list[Prepared] = []
    pending: dict[str, str] = {}
    collected: dict[str, ImageOutcome] = {}  # by custom_id, over every round of this run
    for round_number in range(1, MAX_ROUNDS + 1):
        round_dir = work_dir / f"round-{round_number}"
        ended, still_open = collect_ended(client, ledger, work_dir, concurrency, time.time())
        collected.update(ended)
        # An intent without its batch id yet belongs to a run creating it right now.
        pending = {c: e.batch_id or "" for e in still_open for c in e.requests}
        # OpenAI refused these this run: reported, not sent again until the next run.
        refused = {c: o for c, o in collected.items() if o.status == "failed"}
        spool = LineSpool(round_dir / "lines")
        prepared, failed = prepare_all(
            todo,
            request,
            endpoint,
            {**pending, **dict.fromkeys(refused, "")},
            spool,
            round_dir / "read",
            concurrency,
        )
        outcomes.update(failed)
        for item in prepared:
            if item.custom_id in refused and not item.cached:
                outcomes[item.input] = refused[item.custom_id].model_copy(
                    update={"input": item.input}
                )
        ready = [p for p in prepared if p.cached and p.input not in outcomes]
        if ready:
            published = run_batch(
                [p.input for p in ready], answering, round_dir / "publish", concurrency, "batch-api"
            )
            for item, outcome in zip(ready, published.outcomes, strict=True):
                outcomes[item.input] = _with_batch_cost(outcome, collected.get(item.custom_id))
        for entry in submit_spool(client, ledger, spool, endpoint, parameters, submitted_by):
            pending.update(dict.fromkeys(entry.requests, entry.batch_id or ""))
        waiting = [p for p in prepared if p.input not in outcomes]
        todo = [p.input for p in waiting]
        batch_ids = sorted({pending[p.custom_id] for p in waiting if pending.get(p.custom_id)})
        if not wait or not waiting or not batch_ids or round_number == MAX_ROUNDS:
            break
        wait_until_done(client, batch_ids, settings().batch_poll_seconds, report, sleep)
    for item in waiting:
        if item.input not in outcomes:
            batch_id = pending.get(item.custom_id) or None
            outcomes[item.input] = ImageOutcome.submitted(item.input, batch_id)
    return BatchReport(outcomes=[outcomes[i] for i in unique_inputs(inputs)])


def in_batch_mode(
    inputs: list[str],
    request: PipelineRequest,
    run: RunOptions,
    concurrency: int,
) -> BatchReport:
    """A flow's batch-mode run, in a temporary directory of its own."""
    check_batch_mode(request)
    if request.options.api == "responses":
        report(
            "Warning: OpenAI has not documented the Responses API's image_generation tool in "
            "the Batch API; if the batch fails, use --api images (the default in batch mode)"
        )
    work_dir = Path(tempfile.mkdtemp(prefix="image-pipeline-batch-"))
    try:
        return run_batch_mode(
            inputs,
            request,
            replace(run, batch_mode=BatchModeOptions(batch_api=True)).to_parameters(),
            work_dir,
            concurrency,
            wait=run.batch_mode.wait_for_batch,
            submitted_by=_this_run(),
        )
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def check_batch_mode(request: PipelineRequest) -> None:
    """Refuse what batch mode cannot do, before anything is read or paid for."""
    if request.generator.offline:
        raise InvalidOptionsError(
            "Batch mode sends the work to OpenAI's Batch API: drop --offline, or --batch-api"
        )
    if request.store.kind != "s3":
        raise InvalidOptionsError("Batch mode keeps its ledger in a bucket: publish to S3")


def _this_run() -> str:
    """``flow/run-name (id)`` of the running flow, for the batch's metadata and the ledger."""
    from prefect.runtime import flow_run

    return f"{flow_run.flow_name}/{flow_run.name} ({flow_run.id})"


def collect_now(request: PipelineRequest, concurrency: int) -> BatchReport:
    """Collect and publish every ended batch of the run's ledger, submitting nothing."""
    check_batch_mode(request)
    client = openai_client(request.generator.credentials_block)
    work_dir = Path(tempfile.mkdtemp(prefix="image-pipeline-collect-"))
    try:
        outcomes, still_open = collect_ended(
            client, ledger_for(request), work_dir, concurrency, time.time()
        )
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    waiting = sum(len(entry.requests) for entry in still_open)
    report(f"Collected {len(outcomes)} image(s); {waiting} still in {len(still_open)} batch(es)")
    return BatchReport(outcomes=list(outcomes.values()))
