"""The ``reprocess-images`` flow, for schedules: process what is new under a bucket prefix.

A source is skipped when the manifest says it was processed at the same ETag with the
same parameters, so an unchanged prefix costs no OpenAI call and no upload.
"""

from __future__ import annotations

import shutil
from typing import Any

from prefect import flow, task
from prefect.logging import get_run_logger

from prefect_image_pipeline.batch.chunks import (
    DEFAULT_CHUNK_DEPLOYMENT,
    require_cache_block,
    run_chunks,
)
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
from prefect_image_pipeline.edges.prefect_server.connect import find_running_server
from prefect_image_pipeline.options.parameters import (
    ChunkSize,
    ConcurrencyParam,
    DestinationParam,
    batch_parameters,
    check_parameters,
    credential_parameters,
    generation_parameters,
    pacing_parameters,
    reference_parameters,
    report_parameters,
    with_parameters,
)
from prefect_image_pipeline.pipeline.request import PipelineRequest, resolve_request
from prefect_image_pipeline.review.publish import review_if_asked
from prefect_image_pipeline.steps.cleanup import prepare_work_dir

# Called from Python with no Prefect API configured, use the background server if it is up.
find_running_server()


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


@flow(name="reprocess-images", log_prints=False)
@with_parameters(
    generation_parameters,
    reference_parameters,
    pacing_parameters,
    batch_parameters,
    check_parameters,
    report_parameters,
    credential_parameters,
)
def reprocess_images(
    source_prefix: str = "incoming/",
    destination_prefix: DestinationParam = "reprocessed",
    manifest_key: str | None = None,
    concurrency: ConcurrencyParam = 4,
    chunk_size: ChunkSize | None = None,
    chunk_deployment: str = DEFAULT_CHUNK_DEPLOYMENT,
    **options: Any,
) -> BatchReport:
    """Process new or changed images under ``source_prefix``; skip the rest."""
    request = resolve_request({**options, "s3_prefix": destination_prefix})
    store = request.store
    destination = store.key_prefix(destination_prefix)
    manifest_path = manifest_key or f"{destination}/manifest.json"
    params = params_fingerprint(request.options, destination)

    sources = list_sources_task(request, store.key_prefix(source_prefix), f"{destination}/")
    manifest = read_manifest_task(request, manifest_path)
    todo = [s for s in sources if not manifest.is_current(s, params)]
    get_run_logger().info("%s to process, %s unchanged", len(todo), len(sources) - len(todo))

    done: dict[str, ImageOutcome] = {}
    if todo:
        inputs = [f"s3://{store.bucket}/{s.key}" for s in todo]
        if options[
            "batch_api"
        ]:  # collects last night's batches first (prefect_image_pipeline.batch_api)
            from prefect_image_pipeline.batch_api.rounds import in_batch_mode

            parameters = {**options, "s3_prefix": destination_prefix}
            batch = in_batch_mode(inputs, request, parameters, concurrency)
        elif chunk_size and len(inputs) > chunk_size:  # a large prefix: spread over the pool
            cache_block = require_cache_block(request.cache_block)
            parameters = {
                **options,
                "s3_prefix": destination_prefix,
                "concurrency": concurrency,
                "cache_block": cache_block,
                "report_key": None,  # this run writes the one review page
            }
            batch = run_chunks(inputs, parameters, chunk_size, chunk_deployment, cache_block)
        else:
            work_dir, _ = prepare_work_dir(None)
            try:
                batch = run_batch(inputs, request, work_dir, concurrency, key="reprocess-images")
            finally:
                shutil.rmtree(work_dir, ignore_errors=True)
        for source, outcome in zip(todo, batch.outcomes, strict=True):
            done[source.key] = outcome
            if outcome.status == "uploaded" and outcome.key:
                manifest.record(
                    source, params, outcome.key, outcome.s3_url or "", outcome.public_url or ""
                )
        write_manifest_task(request, manifest_path, manifest)
    elif options["batch_api"]:  # nothing new: still publish what last night's batches answered
        from prefect_image_pipeline.batch_api.rounds import collect_now

        collect_now(request, concurrency)

    outcomes = [done.get(s.key) or skipped(s, store.bucket, manifest) for s in sources]
    report = BatchReport(outcomes=outcomes)
    review_if_asked(report, options["report_key"], store)
    return finish_batch(report, key="reprocess-images")
