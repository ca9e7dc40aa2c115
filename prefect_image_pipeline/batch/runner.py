"""A batch: many images fanned out over threads of one flow run; every one ends as an outcome.

Each image runs the whole pipeline in a thread of the flow run (generate, upload and
remote loads are its task runs; local steps are plain calls, see pipeline.run), so a
future holds only a small outcome, never image bytes: memory stays flat however long the
list. ``concurrency`` slots bound the OpenAI requests in flight; twice as many threads
bound the images held on disk at once.
"""

from __future__ import annotations

import contextvars
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from prefect.logging import get_run_logger

from prefect_image_pipeline.batch.announcer import Announcer
from prefect_image_pipeline.batch.artifacts import ProgressArtifact, publish_report
from prefect_image_pipeline.batch.outcomes import (
    BatchFailedError,
    BatchReport,
    ImageOutcome,
    failed_outcome,
)
from prefect_image_pipeline.batch.warmup import JOIN_TIMEOUT_SECONDS, start_warm_up
from prefect_image_pipeline.pacing.schedule import capped_by
from prefect_image_pipeline.pipeline.cdn import refresh_cdn
from prefect_image_pipeline.pipeline.jobs import Job, plain_jobs
from prefect_image_pipeline.pipeline.reporter import report_progress
from prefect_image_pipeline.pipeline.request import PipelineRequest
from prefect_image_pipeline.pipeline.run import run_pipeline

# Threads per OpenAI slot: one image generating, one loading/saving/uploading. Bounds the
# images on disk at once to 2 x concurrency.
THREADS_PER_REQUEST_SLOT = 2


def process_one(job: Job, work_dir: str, request_slots: threading.Semaphore) -> ImageOutcome:
    """Run one image through the pipeline; a failure becomes an outcome, not an exception."""
    image, request = job.input, job.request
    try:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
        with capped_by(request_slots):
            processed = run_pipeline(image, request, Path(work_dir), inline_local_steps=True)
        outcome = ImageOutcome.uploaded(processed)
    except Exception as exc:  # noqa: BLE001 - every failure is reported with its reason
        outcome = failed_outcome(image, exc)  # --strict-checks: with its checks and cost
        get_run_logger().warning("Failed %s: %s", image, outcome.error)
    finally:
        if not request.keep_temp:
            shutil.rmtree(work_dir, ignore_errors=True)
    return outcome.model_copy(update={"options": job.options}) if job.options else outcome


def run_batch(
    images: list[str], request: PipelineRequest, work_dir: Path, concurrency: int, key: str
) -> BatchReport:
    """Every input with the one request; outcomes in input order (a duplicate's twice)."""
    jobs = plain_jobs(images, request)
    outcomes = run_jobs(jobs, work_dir, concurrency, key)
    by_input = {job.input: outcome for job, outcome in zip(jobs, outcomes, strict=True)}
    return BatchReport(outcomes=[by_input[image.strip()] for image in images if image.strip()])


def run_jobs(
    jobs: list[Job],
    work_dir: Path,
    concurrency: int,
    key: str,
    announcer: Announcer | None = None,
) -> list[ImageOutcome]:
    """Fan the jobs out over threads; returns one outcome per job, in job order.

    Each thread runs one image's pipeline in a copy of the flow run's context, so its
    generate/upload (and remote load) tasks are task runs of this flow. A wrapper task
    per image would add a task run (~15 ms worker and ~70 ms server CPU) for nothing.
    ``concurrency`` slots bound the OpenAI requests (pacing.schedule); as many threads
    again load, save and upload meanwhile, so OpenAI always has ``concurrency`` requests.
    Each outcome is announced (events, callbacks) as it ends, not when the batch does.
    """
    progress = ProgressArtifact(total=len(jobs), key=f"{key}-progress")
    outcomes: dict[int, ImageOutcome] = {}
    request_slots = threading.BoundedSemaphore(concurrency)
    first = jobs[0].request if jobs else None
    warming = start_warm_up(first.generator, first.store) if first else None
    pool = ThreadPoolExecutor(
        max_workers=concurrency * THREADS_PER_REQUEST_SLOT, thread_name_prefix="image"
    )
    try:
        futures = {
            # One context copy per image: a Context cannot be entered by two threads at once.
            pool.submit(
                contextvars.copy_context().run,
                process_one,
                job,
                str(work_dir / f"{n:06d}"),
                request_slots,
            ): n
            for n, job in enumerate(jobs)
        }
        for future in as_completed(futures):
            outcome = future.result()
            outcomes[futures[future]] = outcome
            progress.advance()
            detail = outcome.public_url or outcome.error or ""
            report_progress(len(outcomes), len(jobs), outcome.input, outcome.status, detail)
            if announcer is not None:
                announcer.image(outcome)
    finally:
        # On cancellation or Ctrl-C, drop the images not started rather than run them all.
        pool.shutdown(wait=True, cancel_futures=True)
        if warming is not None:
            warming.join(timeout=JOIN_TIMEOUT_SECONDS)
    return [outcomes[n] for n in range(len(jobs))]


def finish_batch(
    report: BatchReport, key: str, announcer: Announcer | None = None, chunked: bool = False
) -> BatchReport:
    """Publish the artifacts, announce the end; raise BatchFailedError (the run ends
    Failed) if any image failed."""
    publish_report(report, key)
    refresh_cdn(outcome.alias for outcome in report.outcomes)
    get_run_logger().info("Batch finished: %s", report.summary())
    if announcer is not None:
        announcer.finished(report, images_too=not chunked)
    if report.failed:
        raise BatchFailedError(report)
    return report
