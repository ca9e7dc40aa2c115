"""Read each image once to learn what it needs: nothing (cached), a wait, or a new line.

The generation key is computed by the generate task's own policy and looked up where
the task would look (cache.storage.is_cached), so an image an interactive run has
already paid for is never sent to a batch, and one already in an open batch is not sent
again.
"""

from __future__ import annotations

import contextvars
import shutil
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from prefect_image_pipeline.batch.outcomes import ImageOutcome
from prefect_image_pipeline.batch_api.lines import Endpoint, batch_line, request_id
from prefect_image_pipeline.batch_api.spool import LineSpool
from prefect_image_pipeline.cache.storage import is_cached, with_cache
from prefect_image_pipeline.errors import explain
from prefect_image_pipeline.inputs import parse_input
from prefect_image_pipeline.pipeline.request import PipelineRequest
from prefect_image_pipeline.pipeline.tasks import generate_task
from prefect_image_pipeline.spending.limits import charge_submission
from prefect_image_pipeline.steps.encode import encode_loaded
from prefect_image_pipeline.steps.load import load_image
from prefect_image_pipeline.steps.transparency import plan_background


@dataclass(frozen=True)
class Prepared:
    """One input, read: its request id and whether the cache already answers it."""

    input: str
    custom_id: str
    cached: bool


def prepare_one(
    raw: str,
    request: PipelineRequest,
    endpoint: Endpoint,
    pending: Mapping[str, str],
    spool: LineSpool,
    work_dir: Path,
) -> Prepared:
    """Load and encode ``raw``; spool its line unless cached or already pending."""
    source = parse_input(raw)
    client = request.store.s3_client() if source.kind == "s3" else None
    work_dir.mkdir(parents=True, exist_ok=True)
    try:
        encoded = encode_loaded(load_image(source, str(work_dir), s3_client=client))
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    references = request.references.for_input(source.raw)
    # What is sent: a model that cannot make transparency is asked for a key colour (the
    # answering generator plans the same way, so the ids match).
    sent = plan_background(encoded, request.options, try_native=False).sent
    custom_id = request_id(encoded, sent, references, request.mask, endpoint)
    generate = with_cache(generate_task, request.cache_block)
    cached = is_cached(
        generate,
        {
            "image": encoded,
            "options": request.options,
            "generator": request.generator,
            "references": references,
            "mask": request.mask,
        },
    )
    if not cached and custom_id not in pending:
        if request.generator.limits:  # counted against the run's cap and the day's budget
            extra = (*references, *([request.mask] if request.mask else []))
            charge_submission(request.generator.limits, sent, encoded, extra)
        spool.add(batch_line(custom_id, raw, endpoint, encoded, sent, references, request.mask))
    return Prepared(raw, custom_id, cached)


def prepare_all(
    inputs: list[str],
    request: PipelineRequest,
    endpoint: Endpoint,
    pending: Mapping[str, str],
    spool: LineSpool,
    work_dir: Path,
    concurrency: int,
) -> tuple[list[Prepared], dict[str, ImageOutcome]]:
    """Every input prepared, in order; one that cannot be read is an outcome instead."""

    def one(n: int, raw: str) -> Prepared | ImageOutcome:
        try:
            return prepare_one(raw, request, endpoint, pending, spool, work_dir / f"{n:06d}")
        except Exception as exc:  # noqa: BLE001 - every failure is reported with its reason
            return ImageOutcome.failed(raw, explain(exc))

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="prepare") as pool:
        # Each copy is taken here, in the flow's thread: it carries the run's context
        # (its result store and settings) into the worker thread.
        futures = [
            pool.submit(contextvars.copy_context().run, one, n, raw) for n, raw in enumerate(inputs)
        ]
        results = [future.result() for future in futures]
    prepared = [r for r in results if isinstance(r, Prepared)]
    failed = {r.input: r for r in results if isinstance(r, ImageOutcome)}
    return prepared, failed
