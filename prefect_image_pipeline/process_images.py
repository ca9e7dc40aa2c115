"""The ``process-images`` flow: many images fanned out with a cap on simultaneous OpenAI calls."""

from __future__ import annotations

import shutil
from dataclasses import replace
from typing import Any

from prefect_image_pipeline.batch.announcer import Announcer
from prefect_image_pipeline.batch.chunks import (
    ChunkRef,
    require_cache_block,
    run_chunks,
    save_chunk_report,
)
from prefect_image_pipeline.batch.estimate import RunEstimate, estimate_and_report, log_forecast
from prefect_image_pipeline.batch.outcomes import BatchReport
from prefect_image_pipeline.batch.runner import finish_batch, run_jobs
from prefect_image_pipeline.options.generation import GenerationOptions
from prefect_image_pipeline.options.jobs import JobRow
from prefect_image_pipeline.options.parameters import ChunkOf, ImagesParam, with_parameters
from prefect_image_pipeline.options.run import (
    BatchModeOptions,
    CheckOptions,
    ChunkOptions,
    ConcurrencyOptions,
    CredentialOptions,
    NotifyOptions,
    OutputOptions,
    PacingOptions,
    PublishOptions,
    ReferenceOptions,
    ReportOptions,
    RunOptions,
    SpendOptions,
)
from prefect_image_pipeline.pipeline.flow import pipeline_flow
from prefect_image_pipeline.pipeline.jobs import (
    Job,
    in_row_order,
    plan_jobs,
    refuse_own_options,
    rows_of,
)
from prefect_image_pipeline.pipeline.request import PipelineRequest, resolve_request
from prefect_image_pipeline.review.publish import review_if_asked
from prefect_image_pipeline.steps.alias import check_alias
from prefect_image_pipeline.steps.cleanup import prepare_work_dir


@pipeline_flow(name="process-images")
@with_parameters(
    ConcurrencyOptions,
    ChunkOptions,
    GenerationOptions,
    ReferenceOptions,
    OutputOptions,
    PublishOptions,
    PacingOptions,
    BatchModeOptions,
    CheckOptions,
    SpendOptions,
    ReportOptions,
    NotifyOptions,
    CredentialOptions,
)
def process_images(
    images: ImagesParam, chunk_of: ChunkOf = None, **options: Any
) -> BatchReport | RunEstimate:
    """Process every image; each ends uploaded or reported with its error.

    With ``estimate_only``, only what that would cost (batch.estimate)."""
    chunk = ChunkRef.parse(chunk_of) if chunk_of else None
    run = RunOptions.from_parameters(options)
    check_alias(run.publish.alias, len(images))
    request = resolve_request(run, pacing_key=chunk.parent if chunk else None)  # one rate
    jobs = plan_jobs(images, run, request)  # every row's own options checked now
    if run.spend.estimate_only:
        return estimate_and_report(jobs)
    # Queued callbacks are delivered (for a bounded time) however the run ends.
    with Announcer(run.notify.callback_url) as announcer:
        return _process(images, jobs, run, request, chunk, announcer)


def _process(
    images: list[JobRow],
    jobs: list[Job],
    run: RunOptions,
    request: PipelineRequest,
    chunk: ChunkRef | None,
    announcer: Announcer,
) -> BatchReport:
    """The batch, after its rows were checked: through the Batch API, as chunks on the
    pool, or here; each image announced as it ends, the run when it does."""
    concurrency = run.concurrency.concurrency
    chunk_size = run.chunks.chunk_size
    log_forecast([job.request for job in jobs], batch=run.batch_mode.batch_api)
    if run.batch_mode.batch_api:  # OpenAI runs the work: no chunks needed (batch_api)
        from prefect_image_pipeline.batch_api.rounds import in_batch_mode

        refuse_own_options(jobs, "batch_api")
        report = in_batch_mode([job.input for job in jobs], request, run, concurrency)
        review_if_asked(report, run.report.report_key, request.store)
        return finish_batch(report, key="process-images", announcer=announcer)
    if chunk_size and len(jobs) > chunk_size and chunk is None:
        cache_block = require_cache_block(request.cache_block)
        children = replace(
            run,
            credentials=replace(run.credentials, cache_block=cache_block),
            report=ReportOptions(),  # the parent writes the one review page
        )
        report = run_chunks(
            rows_of(jobs),
            children.to_parameters(),
            chunk_size,
            run.chunks.chunk_deployment,
            cache_block,
            on_lost=announcer.image,
        )
        review_if_asked(report, run.report.report_key, request.store)
        return finish_batch(report, key="process-images", announcer=announcer, chunked=True)
    work_dir, created = prepare_work_dir(run.output.output_dir)
    try:
        outcomes = run_jobs(jobs, work_dir, concurrency, "process-images", announcer)
    finally:
        if created and not request.keep_temp:
            shutil.rmtree(work_dir, ignore_errors=True)
    report = BatchReport(outcomes=in_row_order(images, jobs, outcomes))
    if chunk is not None:  # the parent announces the end of the whole batch
        save_chunk_report(report, chunk, require_cache_block(request.cache_block))
        return finish_batch(report, key="process-images")
    review_if_asked(report, run.report.report_key, request.store)
    return finish_batch(report, key="process-images", announcer=announcer)
