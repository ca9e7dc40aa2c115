"""The ``process-image`` flow: one image through load -> encode -> generate -> upload -> cleanup."""

from __future__ import annotations

from prefect import flow

from flows.connections import GeneratorTarget, resolve_store_target
from flows.generate import Background, GenerationOptions, Quality
from flows.pipeline import PipelineRequest, ProcessedImage, run_pipeline
from flows.report import report
from flows.settings import DEFAULT_BACKGROUND, DEFAULT_MODEL, DEFAULT_QUALITY, DEFAULT_S3_PREFIX
from flows.tasks import cleanup_task
from flows.workspace import input_kind, prepare_work_dir

__all__ = ["ProcessedImage", "process_image"]


def build_request(
    prompt: str | None,
    model: str,
    background: Background,
    quality: Quality,
    s3_prefix: str,
    keep_temp: bool,
    offline: bool,
    openai_credentials_block: str | None,
    s3_bucket_block: str | None,
) -> PipelineRequest:
    """Resolve the run's generator and destination once (fails fast on a missing key)."""
    generator = GeneratorTarget(
        kind="offline" if offline else "openai", credentials_block=openai_credentials_block
    )
    generator.check()
    return PipelineRequest(
        options=GenerationOptions(
            prompt=prompt, model=model, background=background, quality=quality
        ),
        s3_prefix=s3_prefix,
        generator=generator,
        store=resolve_store_target(offline=offline, s3_bucket_block=s3_bucket_block),
        keep_temp=keep_temp,
    )


@flow(name="process-image", log_prints=False)
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
    """Recreate one image with OpenAI (or offline) and publish it to S3 (or a local folder).

    Args:
        image: Image URL (http/https), s3:// URI or local path.
        prompt: Prompt for OpenAI; empty uses the default recreation prompt.
        model: OpenAI model with the image_generation tool.
        background: Background of the generated image.
        quality: Image quality setting.
        s3_prefix: S3 key prefix for the uploads.
        keep_temp: Keep downloaded inputs and generated PNGs on disk.
        output_dir: Directory for temporary files (default: a temp dir).
        offline: Dry run: local Pillow generator and local storage, no key needed.
        openai_credentials_block: Name of an OpenAI Credentials block; default: OPENAI_API_KEY.
        s3_bucket_block: Name of an S3Bucket block; default: ARTIFACTS_BUCKET / auto-detect.
    """
    input_kind(image)  # refuse an unusable input before touching AWS
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
        return run_pipeline(image, request, work_dir, say=report)
    finally:
        if created and not keep_temp:
            cleanup_task([str(work_dir)])
