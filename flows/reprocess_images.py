"""The ``reprocess-images`` flow, for schedules: process what is new under a bucket prefix.

A source is skipped when the manifest says it was processed at the same ETag with the
same parameters, so an unchanged prefix costs no OpenAI call and no upload.
"""

from __future__ import annotations

import shutil
from typing import Annotated

from prefect import flow, task
from prefect.logging import get_run_logger
from pydantic import Field

from flows.connections import s3_client
from flows.generate import Background, Quality
from flows.manifest import (
    Manifest,
    SourceObject,
    list_sources,
    load_manifest,
    params_fingerprint,
    save_manifest,
)
from flows.outcomes import BatchReport, ImageOutcome
from flows.pipeline import PipelineRequest
from flows.process_image import build_request
from flows.process_images import ConcurrencyParam, finish_batch, run_batch
from flows.settings import DEFAULT_BACKGROUND, DEFAULT_MODEL, DEFAULT_QUALITY
from flows.workspace import prepare_work_dir

# Descriptions live in the flow's docstring (Args:), where Prefect's UI form reads them.
DestinationParam = Annotated[str, Field(min_length=1)]


@task(name="list-sources")
def list_sources_task(request: PipelineRequest, prefix: str, exclude: str) -> list[SourceObject]:
    """Image objects under the source prefix."""
    sources = list_sources(s3_client(request.store), request.store.bucket, prefix, exclude)
    get_run_logger().info("Found %s source image(s) under %s", len(sources), prefix)
    return sources


@task(name="read-manifest")
def read_manifest_task(request: PipelineRequest, key: str) -> Manifest:
    """The manifest of earlier runs (empty on the first)."""
    return load_manifest(s3_client(request.store), request.store.bucket, key)


@task(name="write-manifest", retries=3, retry_delay_seconds=[1, 2, 4])
def write_manifest_task(request: PipelineRequest, key: str, manifest: Manifest) -> None:
    """Store the updated manifest."""
    save_manifest(s3_client(request.store), request.store.bucket, key, manifest)


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
def reprocess_images(
    source_prefix: str = "incoming/",
    destination_prefix: DestinationParam = "reprocessed",
    manifest_key: str | None = None,
    prompt: str | None = None,
    model: str = DEFAULT_MODEL,
    background: Background = DEFAULT_BACKGROUND,
    quality: Quality = DEFAULT_QUALITY,
    openai_credentials_block: str | None = None,
    s3_bucket_block: str | None = None,
    concurrency: ConcurrencyParam = 4,
) -> BatchReport:
    """Process new or changed images under ``source_prefix``; skip the rest.

    Args:
        source_prefix: Bucket prefix holding the source images.
        destination_prefix: Bucket prefix for the outputs (and the manifest).
        manifest_key: Manifest key; default: {destination_prefix}/manifest.json.
        prompt: Prompt for OpenAI; empty uses the default recreation prompt.
        model: OpenAI model with the image_generation tool.
        background: Background of the generated images.
        quality: Image quality setting.
        openai_credentials_block: Name of an OpenAI Credentials block; default: OPENAI_API_KEY.
        s3_bucket_block: Name of an S3Bucket block; default: ARTIFACTS_BUCKET / auto-detect.
        concurrency: Most OpenAI calls in flight at once, 1 to 64 (as many other images
            may be loading or uploading meanwhile).
    """
    request = build_request(
        prompt,
        model,
        background,
        quality,
        destination_prefix,
        False,
        False,
        openai_credentials_block,
        s3_bucket_block,
    )
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
        work_dir, _ = prepare_work_dir(None)
        try:
            inputs = [f"s3://{store.bucket}/{s.key}" for s in todo]
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

    outcomes = [done.get(s.key) or skipped(s, store.bucket, manifest) for s in sources]
    return finish_batch(BatchReport(outcomes=outcomes), key="reprocess-images")
