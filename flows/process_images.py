"""The ``process-images`` flow: many images fanned out with a cap on simultaneous OpenAI calls."""

from __future__ import annotations

import shutil

from prefect import flow

from flows.batch.outcomes import BatchReport
from flows.batch.runner import finish_batch, run_batch
from flows.config import DEFAULT_BACKGROUND, DEFAULT_MODEL, DEFAULT_QUALITY, DEFAULT_S3_PREFIX
from flows.parameters import Background, ConcurrencyParam, ImagesParam, Quality, described
from flows.pipeline.request import resolve_request
from flows.steps.cleanup import prepare_work_dir


@flow(name="process-images", log_prints=False)
@described
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
    """Process every image; each ends uploaded or reported with its error."""
    request = resolve_request(locals())
    work_dir, created = prepare_work_dir(output_dir)
    try:
        report = run_batch(images, request, work_dir, concurrency, key="process-images")
    finally:
        if created and not keep_temp:
            shutil.rmtree(work_dir, ignore_errors=True)
    return finish_batch(report, key="process-images")
