"""The ``reprocess-images`` flow, for schedules: process what is new under a bucket prefix.

A source is skipped when the manifest says it was processed at the same ETag with the
same parameters, so an unchanged prefix costs no OpenAI call and no upload.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from typing import Any

from prefect import task
from prefect.logging import get_run_logger

from prefect_image_pipeline.batch.announcer import Announcer
from prefect_image_pipeline.batch.chunks import (
    require_cache_block,
    run_chunks,
)
from prefect_image_pipeline.batch.estimate import RunEstimate, estimate_and_report, log_forecast
from prefect_image_pipeline.batch.manifest import (
    Manifest,
    SourceObject,
    list_sources,
    load_manifest,
    params_fingerprint,
    save_manifest,
)
from prefect_image_pipeline.batch.outcomes import BatchReport, ImageOutcome
from prefect_image_pipeline.batch.runner import finish_batch, run_batch
from prefect_image_pipeline.options.generation import GenerationOptions
from prefect_image_pipeline.options.parameters import (
    DestinationPrefix,
    ManifestKey,
    SourcePrefix,
    with_parameters,
)
from prefect_image_pipeline.options.run import (
    BatchModeOptions,
    CheckOptions,
    ChunkOptions,
    ConcurrencyOptions,
    CredentialOptions,
    NotifyOptions,
    PacingOptions,
    PublishOptions,
    ReferenceOptions,
    ReportOptions,
    RunOptions,
    SpendOptions,
)
from prefect_image_pipeline.pipeline.flow import pipeline_flow
from prefect_image_pipeline.pipeline.jobs import plain_jobs
from prefect_image_pipeline.pipeline.request import PipelineRequest, resolve_request
from prefect_image_pipeline.review.publish import review_if_asked
from prefect_image_pipeline.steps.alias import check_alias
from prefect_image_pipeline.steps.cleanup import prepare_work_dir


@task(name="list-sources")
def list_sources_task(request: PipelineRequest, prefix: str, exclude: str) -> list[SourceObject]:
    """Image objects under the source prefix."""
    sources = list_sources(request.store.s3_client(), request.store.bucket, prefix, exclude)
    get_run_logger().info("Found %s source image(s) under %s", len(sources), prefix)
    return sources


@task(name="read-manifest")
def read_manifest_task(request: PipelineRequest, key: str) -> Manifest:
    """The manifest of earlier runs (empty on the first)."""
    return load_manifest(request.store.s3_client(), request.store.bucket, key)


@task(name="write-manifest", retries=3, retry_delay_seconds=[1, 2, 4])
def write_manifest_task(request: PipelineRequest, key: str, manifest: Manifest) -> None:
    """Store the updated manifest."""
    save_manifest(request.store.s3_client(), request.store.bucket, key, manifest)


def skipped(source: SourceObject, bucket: str, manifest: Manifest) -> ImageOutcome:
    """The outcome of a source that needs no work: its earlier output."""
    entry = manifest.entries[source.key]
    return ImageOutcome(
        input=f"s3://{bucket}/{source.key}",
        status="skipped",
        s3_url=entry.s3_url,
        public_url=entry.public_url,
        key=entry.output_key,
    )


@pipeline_flow(name="reprocess-images")
@with_parameters(
    ConcurrencyOptions,
    ChunkOptions,
    GenerationOptions,
    ReferenceOptions,
    PacingOptions,
    PublishOptions,
    BatchModeOptions,
    CheckOptions,
    SpendOptions,
    ReportOptions,
    NotifyOptions,
    CredentialOptions,
)
def reprocess_images(
    source_prefix: SourcePrefix = "incoming/",
    destination_prefix: DestinationPrefix = "reprocessed",
    manifest_key: ManifestKey = None,
    **options: Any,
) -> BatchReport | RunEstimate:
    """Process new or changed images under ``source_prefix``; skip the rest.

    With ``estimate_only``, only what processing them would cost (batch.estimate)."""
    run = RunOptions.from_parameters(options)
    run = replace(run, output=replace(run.output, s3_prefix=destination_prefix))
    check_alias(run.publish.alias, image_count=2)  # a prefix holds many: {stem} needed
    request = resolve_request(run)
    announcer = Announcer(run.notify.callback_url)  # a bad URL is refused before any call
    concurrency = run.concurrency.concurrency
    chunk_size = run.chunks.chunk_size
    store = request.store
    destination = store.key_prefix(destination_prefix)
    manifest_path = manifest_key or f"{destination}/manifest.json"
    params = params_fingerprint(request.options, destination, request.publish)

    sources = list_sources_task(request, store.key_prefix(source_prefix), f"{destination}/")
    manifest = read_manifest_task(request, manifest_path)
    todo = [s for s in sources if not manifest.is_current(s, params)]
    get_run_logger().info("%s to process, %s unchanged", len(todo), len(sources) - len(todo))

    done: dict[str, ImageOutcome] = {}
    chunked = False  # chunks' runs announce their own images
    if run.spend.estimate_only:
        uris = [f"s3://{store.bucket}/{s.key}" for s in todo]
        return estimate_and_report(plain_jobs(uris, request))
    if todo:
        inputs = [f"s3://{store.bucket}/{s.key}" for s in todo]
        log_forecast([request] * len(inputs), batch=run.batch_mode.batch_api)
        if run.batch_mode.batch_api:  # collects last night's batches first (batch_api)
            from prefect_image_pipeline.batch_api.rounds import in_batch_mode

            batch = in_batch_mode(inputs, request, run, concurrency)
        elif chunk_size and len(inputs) > chunk_size:  # a large prefix: spread over the pool
            chunked = True
            cache_block = require_cache_block(request.cache_block)
            children = replace(
                run,
                credentials=replace(run.credentials, cache_block=cache_block),
                report=ReportOptions(),  # this run writes the one review page
            )
            batch = run_chunks(
                inputs,
                children.to_parameters(),
                chunk_size,
                run.chunks.chunk_deployment,
                cache_block,
                on_lost=announcer.image,
            )
        else:
            work_dir, _ = prepare_work_dir(None)
            try:
                batch = run_batch(inputs, request, work_dir, concurrency, key="reprocess-images")
            finally:
                shutil.rmtree(work_dir, ignore_errors=True)
        for source, outcome in zip(todo, batch.outcomes, strict=True):
            done[source.key] = outcome
            if outcome.status == "uploaded" and outcome.key:
                manifest.record(source, params, outcome)
        write_manifest_task(request, manifest_path, manifest)
    elif run.batch_mode.batch_api:  # nothing new: still publish what last night's batches answered
        from prefect_image_pipeline.batch_api.rounds import collect_now

        collect_now(request, concurrency)

    outcomes = [done.get(s.key) or skipped(s, store.bucket, manifest) for s in sources]
    report = BatchReport(outcomes=outcomes)
    review_if_asked(report, run.report.report_key, store)
    return finish_batch(report, key="reprocess-images", announcer=announcer, chunked=chunked)
