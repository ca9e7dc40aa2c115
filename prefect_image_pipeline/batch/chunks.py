"""Big batches spread over a work pool: each chunk a child flow run of a deployment.

With ``chunk_size`` set, ``process-images`` splits its inputs and starts one run of the
``process-images/batch`` deployment (``chunk_deployment``) per chunk with
``run_deployment``, so every worker of the pool takes chunks. Children run with chunking
off and write their report to the shared cache bucket
(``<folder>/reports/<parent run id>/chunk-<n>.json``); the parent waits for every child,
joins their reports into one, in input order, and publishes the artifacts. A child that
crashes, is cancelled or never reports has each of its images reported failed with the
child's final state, so nothing is lost; a rerun of the parent makes new children, and
everything done before is a hit in the shared cache.

The shared cache is required: it is how children on other hosts avoid paying twice and
where the parent finds their reports.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import FlowRun
from prefect.context import FlowRunContext
from prefect.deployments import run_deployment
from prefect.logging import get_run_logger

from prefect_image_pipeline.batch.outcomes import BatchReport, ImageOutcome
from prefect_image_pipeline.errors import ConfigurationError
from prefect_image_pipeline.options.jobs import Row, as_job

DEFAULT_CHUNK_DEPLOYMENT = "process-images/batch"
POLL_SECONDS = 2.0
REPORTS_FOLDER = "reports"
_PAGE = 200  # the most runs the API returns at once


@dataclass(frozen=True)
class ChunkRef:
    """Which parent run and which of its chunks a child run is (``chunk_of``)."""

    parent: str
    index: int

    @classmethod
    def parse(cls, text: str) -> ChunkRef:
        """``<parent run id>/<index>``, as the parent passes it."""
        parent, _, index = text.rpartition("/")
        return cls(parent=parent, index=int(index))

    def __str__(self) -> str:
        return f"{self.parent}/{self.index}"

    @property
    def report_path(self) -> str:
        """Where this chunk's report lives, under the cache block's folder."""
        return f"{REPORTS_FOLDER}/{self.parent}/chunk-{self.index:05d}.json"


def _failed(row: Row, reason: str) -> ImageOutcome:
    job = as_job(row)
    return ImageOutcome.failed(job.input, reason).model_copy(update={"options": job.own_options()})


def split(inputs: Sequence[Row], size: int) -> list[list[Row]]:
    """``inputs`` in order, ``size`` at a time."""
    return [list(inputs[start : start + size]) for start in range(0, len(inputs), size)]


def require_cache_block(cache_block: str | None) -> str:
    """The shared cache block chunking needs, or a clear error before any work."""
    if not cache_block:
        raise ConfigurationError(
            "chunk_size needs the shared cache (children run on other hosts): set "
            "IMAGE_PIPELINE_CACHE_BLOCK or cache_block, see docs/scaling.md"
        )
    return cache_block


def save_chunk_report(report: BatchReport, chunk: ChunkRef, cache_block: str) -> None:
    """In a child: where its parent will read it."""
    from prefect_image_pipeline.cache.shared import cache_bucket
    from prefect_image_pipeline.edges.s3.blocks import put_block_bytes

    body = report.model_dump_json().encode()
    put_block_bytes(cache_bucket(cache_block), chunk.report_path, body, "application/json")


def read_chunk_report(chunk: ChunkRef, cache_block: str) -> BatchReport | None:
    """In the parent: a child's report, or None if it never wrote one."""
    from prefect_image_pipeline.cache.shared import cache_bucket
    from prefect_image_pipeline.edges.s3.blocks import get_block_bytes

    try:
        return BatchReport.model_validate_json(
            get_block_bytes(cache_bucket(cache_block), chunk.report_path)
        )
    except Exception:  # noqa: BLE001 - missing or unreadable: the child is reported instead
        return None


def run_chunks(
    inputs: Sequence[Row],
    parameters: dict[str, Any],
    chunk_size: int,
    deployment: str,
    cache_block: str,
    sleep: Callable[[float], None] = time.sleep,
    on_lost: Callable[[ImageOutcome], None] | None = None,
) -> BatchReport:
    """Run ``inputs`` as child runs of ``deployment``; every input's outcome, in order.

    The children announce their own images; ``on_lost`` hears of each image of a child
    that ended without a report (failed here, announced by no one else)."""
    context = FlowRunContext.get()
    parent = str(context.flow_run.id) if context and context.flow_run else "no-run"
    chunks = [
        (ChunkRef(parent, index), images) for index, images in enumerate(split(inputs, chunk_size))
    ]
    logger = get_run_logger()
    logger.info(
        "Running %s images as %s chunks of %s on %s",
        len(inputs),
        len(chunks),
        chunk_size,
        deployment,
    )
    children: dict[UUID, tuple[ChunkRef, list[Row]]] = {}
    for chunk, images in chunks:
        child = run_deployment(
            deployment,
            parameters={
                **parameters,
                "images": images,
                "chunk_size": None,  # children never chunk again
                "chunk_of": str(chunk),
            },
            timeout=0,
            as_subflow=True,
        )
        children[cast(FlowRun, child).id] = (chunk, images)
    finished = wait_for_children(list(children), sleep)
    outcomes: list[ImageOutcome] = []
    for run_id, (chunk, images) in children.items():
        report = read_chunk_report(chunk, cache_block)
        if report is None:
            state = finished[run_id].state
            reason = (
                f"chunk {chunk.index + 1} of {len(chunks)} (flow run {run_id}) ended "
                f"{state.name if state else 'unknown'} without a report"
                + (f": {state.message}" if state and state.message else "")
            )
            lost = [_failed(row, reason) for row in images]
            if on_lost is not None:
                for outcome in lost:
                    on_lost(outcome)
            outcomes.extend(lost)
        else:
            outcomes.extend(report.outcomes)
    return BatchReport(outcomes=outcomes)


def wait_for_children(ids: list[UUID], sleep: Callable[[float], None]) -> dict[UUID, FlowRun]:
    """Poll until every run is in a final state (completed, failed, crashed, cancelled)."""
    pending, done = list(ids), {}
    with get_client(sync_client=True) as client:
        while pending:
            for start in range(0, len(pending), _PAGE):
                page = pending[start : start + _PAGE]
                runs = client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=page)), limit=_PAGE
                )
                done.update({r.id: r for r in runs if r.state and r.state.is_final()})
            pending = [run_id for run_id in ids if run_id not in done]
            if pending:
                sleep(POLL_SECONDS)
    return done
