"""The ``process-images`` flow: many images fanned out with a cap on simultaneous OpenAI calls.

Each image runs the whole pipeline inside one ``process-one`` task (its steps appear as
nested task runs), so a future holds only a small outcome, never image bytes: memory
stays flat however long the list. ``concurrency`` worker threads bound both the OpenAI
calls in flight and the images held on disk at once.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

from prefect import flow, task
from prefect.futures import PrefectFuture, as_completed
from prefect.logging import get_run_logger
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import Field

from flows.artifacts import ProgressArtifact, publish_report
from flows.errors import explain
from flows.outcomes import BatchFailedError, BatchReport, ImageOutcome
from flows.pipeline import PipelineRequest, run_pipeline
from flows.process_image import (
    BackgroundParam,
    KeepTempParam,
    ModelParam,
    OfflineParam,
    OpenAIBlockParam,
    OutputDirParam,
    PrefixParam,
    PromptParam,
    QualityParam,
    S3BlockParam,
    build_request,
)
from flows.report import report_progress
from flows.settings import DEFAULT_BACKGROUND, DEFAULT_MODEL, DEFAULT_QUALITY, DEFAULT_S3_PREFIX
from flows.workspace import prepare_work_dir

ImagesParam = Annotated[
    list[str],
    Field(description="Inputs: http(s) URLs, s3:// URIs or local paths.", min_length=1),
]
ConcurrencyParam = Annotated[
    int, Field(description="Most images (and OpenAI calls) in flight at once.", ge=1, le=64)
]


@task(name="process-one")
def process_one_task(image: str, request: PipelineRequest, work_dir: str) -> ImageOutcome:
    """Run one image through the pipeline; a failure becomes an outcome, not an exception."""
    try:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
        return ImageOutcome.uploaded(run_pipeline(image, request, Path(work_dir)))
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
    """Fan the inputs out over ``concurrency`` threads; returns outcomes in input order."""
    inputs = unique_inputs(images)
    progress = ProgressArtifact(total=len(inputs), key=f"{key}-progress")
    outcomes: dict[str, ImageOutcome] = {}
    runner: ThreadPoolTaskRunner[ImageOutcome] = ThreadPoolTaskRunner(max_workers=concurrency)
    with runner:
        futures: list[PrefectFuture[ImageOutcome]] = [
            runner.submit(
                process_one_task,
                {"image": image, "request": request, "work_dir": str(work_dir / f"{n:06d}")},
            )
            for n, image in enumerate(inputs)
        ]
        for future in as_completed(futures):
            outcome = future.result()
            outcomes[outcome.input] = outcome
            progress.advance()
            detail = outcome.public_url or outcome.error or ""
            report_progress(len(outcomes), len(inputs), outcome.input, outcome.status, detail)
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
    prompt: PromptParam = None,
    model: ModelParam = DEFAULT_MODEL,
    background: BackgroundParam = DEFAULT_BACKGROUND,
    quality: QualityParam = DEFAULT_QUALITY,
    s3_prefix: PrefixParam = DEFAULT_S3_PREFIX,
    keep_temp: KeepTempParam = False,
    output_dir: OutputDirParam = None,
    offline: OfflineParam = False,
    openai_credentials_block: OpenAIBlockParam = None,
    s3_bucket_block: S3BlockParam = None,
    concurrency: ConcurrencyParam = 4,
) -> BatchReport:
    """Process every image; each ends uploaded or reported with its error."""
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
