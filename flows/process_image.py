"""The ``process-image`` flow: one image through load -> encode -> generate -> upload -> cleanup."""

from __future__ import annotations

from prefect import flow

from flows.config import DEFAULT_BACKGROUND, DEFAULT_MODEL, DEFAULT_QUALITY, DEFAULT_S3_PREFIX
from flows.inputs import parse_input
from flows.parameters import Background, Quality, described
from flows.pipeline.reporter import report
from flows.pipeline.request import resolve_request
from flows.pipeline.run import ProcessedImage, run_pipeline
from flows.pipeline.tasks import cleanup_task
from flows.steps.cleanup import prepare_work_dir

__all__ = ["ProcessedImage", "process_image"]


@flow(name="process-image", log_prints=False)
@described
def process_image(
    image: str,
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
) -> ProcessedImage:
    """Recreate one image with OpenAI (or offline) and publish it to S3 (or a local folder)."""
    parse_input(image)  # refuse an unusable input before touching AWS
    request = resolve_request(locals())
    work_dir, created = prepare_work_dir(output_dir)
    try:
        return run_pipeline(image, request, work_dir, say=report)
    finally:
        if created and not keep_temp:
            cleanup_task([str(work_dir)])
