"""The ``process-images`` flow: many images fanned out with a cap on simultaneous OpenAI calls.

Each image runs the whole pipeline in a thread of the flow run (generate, upload and
remote loads are its task runs; local steps are plain calls, see flows.pipeline), so a
future holds only a small outcome, never image bytes: memory stays flat however long the
list. ``concurrency`` slots bound the OpenAI calls in flight; twice as many threads bound
the images held on disk at once.
"""

from __future__ import annotations

import contextvars
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Annotated

from prefect import flow
from prefect.logging import get_run_logger
from pydantic import Field

from flows.artifacts import ProgressArtifact, publish_report
from flows.errors import explain
from flows.generate import Background, Quality
from flows.outcomes import BatchFailedError, BatchReport, ImageOutcome
from flows.pipeline import PipelineRequest, run_pipeline
from flows.process_image import build_request
from flows.report import report_progress
from flows.run_cap import capped_by
from flows.settings import DEFAULT_BACKGROUND, DEFAULT_MODEL, DEFAULT_QUALITY, DEFAULT_S3_PREFIX
from flows.warmup import JOIN_TIMEOUT_SECONDS, start_warm_up
from flows.workspace import prepare_work_dir

# Descriptions live in the flows' docstrings (Args:), which is where Prefect's UI form
# reads them; these annotations carry only the constraints the form enforces.
ImagesParam = Annotated[list[str], Field(min_length=1)]
ConcurrencyParam = Annotated[int, Field(ge=1, le=64)]
# Threads per OpenAI slot: one image generating, one loading/saving/uploading. Bounds the
# images on disk at once to 2 x concurrency.
THREADS_PER_REQUEST_SLOT = 2


def process_one(
    image: str, request: PipelineRequest, work_dir: str, request_slots: threading.Semaphore
) -> ImageOutcome:
    """Run one image through the pipeline; a failure becomes an outcome, not an exception."""
    try:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
        with capped_by(request_slots):
            processed = run_pipeline(image, request, Path(work_dir), inline_local_steps=True)
        return ImageOutcome.uploaded(processed)
    except Exception as exc:  # noqa: BLE001 - every failure is reported with its reason
        get_run_logger().warning("Failed %s: %s", image, explain(exc))
        return ImageOutcome.failed(image, explain(exc))
    finally:
        if not request.keep_temp:
            shutil.rmtree(work_dir, ignore_errors=True)


def unique_inputs(images: list[str]) -> list[str]:
    """Inputs stripped, blanks dropped, duplicates kept once (first position wins)."""
    return list(dict.fromkeys(image.strip() for image in images if image.strip()))


def run_batch(
    images: list[str], request: PipelineRequest, work_dir: Path, concurrency: int, key: str
) -> BatchReport:
    """Fan the inputs out over threads; returns outcomes in input order.

    Each thread runs one image's pipeline in a copy of the flow run's context, so its
    generate/upload (and remote load) tasks are task runs of this flow. A wrapper task
    per image would add a task run (~15 ms worker and ~70 ms server CPU) for nothing.
    ``concurrency`` slots bound the OpenAI requests (flows.run_cap); as many threads
    again load, save and upload meanwhile, so OpenAI always has ``concurrency`` requests.
    """
    inputs = unique_inputs(images)
    progress = ProgressArtifact(total=len(inputs), key=f"{key}-progress")
    outcomes: dict[str, ImageOutcome] = {}
    request_slots = threading.BoundedSemaphore(concurrency)
    warming = start_warm_up(request.generator, request.store)
    pool = ThreadPoolExecutor(
        max_workers=concurrency * THREADS_PER_REQUEST_SLOT, thread_name_prefix="image"
    )
    try:
        futures = [
            # One context copy per image: a Context cannot be entered by two threads at once.
            pool.submit(
                contextvars.copy_context().run,
                process_one,
                image,
                request,
                str(work_dir / f"{n:06d}"),
                request_slots,
            )
            for n, image in enumerate(inputs)
        ]
        for future in as_completed(futures):
            outcome = future.result()
            outcomes[outcome.input] = outcome
            progress.advance()
            detail = outcome.public_url or outcome.error or ""
            report_progress(len(outcomes), len(inputs), outcome.input, outcome.status, detail)
    finally:
        # On cancellation or Ctrl-C, drop the images not started rather than run them all.
        pool.shutdown(wait=True, cancel_futures=True)
        warming.join(timeout=JOIN_TIMEOUT_SECONDS)
    ordered = [outcomes[image.strip()] for image in images if image.strip()]
    return BatchReport(outcomes=ordered)


def finish_batch(report: BatchReport, key: str) -> BatchReport:
    """Publish the artifacts; raise BatchFailedError (the run ends Failed) if any image failed."""
    publish_report(report, key)
    get_run_logger().info("Batch finished: %s", report.summary())
    if report.failed:
        raise BatchFailedError(report)
    return report


@flow(name="process-images", log_prints=False)
def process_images(
    images: ImagesParam,
    prompt: str | None = None,
    model: str = DEFAULT_MODEL,
    background: Background = DEFAULT_BACKGROUND,
    quality: Quality = DEFAULT_QUALITY,
    s3_prefix: str = DEFAULT_S3_PREFIX,
    keep_temp: bool = False,
    output_dir: str | None = None,
    offline: bool = False,
    openai_credentials_block: str | None = None,
    s3_bucket_block: str | None = None,
    concurrency: ConcurrencyParam = 4,
) -> BatchReport:
    """Process every image; each ends uploaded or reported with its error.

    Args:
        images: Inputs: http(s) URLs, s3:// URIs or local paths (duplicates run once).
        prompt: Prompt for OpenAI; empty uses the default recreation prompt.
        model: OpenAI model with the image_generation tool.
        background: Background of the generated images.
        quality: Image quality setting.
        s3_prefix: S3 key prefix for the uploads.
        keep_temp: Keep downloaded inputs and generated PNGs on disk.
        output_dir: Directory for temporary files (default: a temp dir).
        offline: Dry run: local Pillow generator and local storage, no key needed.
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
        s3_prefix,
        keep_temp,
        offline,
        openai_credentials_block,
        s3_bucket_block,
    )
    work_dir, created = prepare_work_dir(output_dir)
    try:
        report = run_batch(images, request, work_dir, concurrency, key="process-images")
    finally:
        if created and not keep_temp:
            shutil.rmtree(work_dir, ignore_errors=True)
    return finish_batch(report, key="process-images")
