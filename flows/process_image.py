"""The ``process-image`` flow: one image through load -> encode -> generate -> upload -> cleanup."""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from pydantic import Field

from flows.connections import GeneratorTarget, resolve_store_target
from flows.generate import Background, GenerationOptions, Quality
from flows.pipeline import PipelineRequest, ProcessedImage, run_pipeline
from flows.report import report
from flows.settings import DEFAULT_BACKGROUND, DEFAULT_MODEL, DEFAULT_QUALITY, DEFAULT_S3_PREFIX
from flows.tasks import cleanup_task
from flows.workspace import input_kind, prepare_work_dir

__all__ = ["ProcessedImage", "process_image"]

# Parameter annotations shared with the batch flows, so every UI form reads the same.
ImageParam = Annotated[str, Field(description="Image URL (http/https), s3:// URI or local path.")]
PromptParam = Annotated[
    str | None, Field(description="Prompt for OpenAI; empty uses the default recreation prompt.")
]
ModelParam = Annotated[str, Field(description="OpenAI model with the image_generation tool.")]
BackgroundParam = Annotated[Background, Field(description="Background of the generated image.")]
QualityParam = Annotated[Quality, Field(description="Image quality setting.")]
PrefixParam = Annotated[str, Field(description="S3 key prefix for the uploads.")]
KeepTempParam = Annotated[
    bool, Field(description="Keep downloaded inputs and generated PNGs on disk.")
]
OutputDirParam = Annotated[
    str | None, Field(description="Directory for temporary files (default: a temp dir).")
]
OfflineParam = Annotated[
    bool, Field(description="Dry run: local Pillow generator and local storage, no key needed.")
]
OpenAIBlockParam = Annotated[
    str | None, Field(description="Name of an OpenAI Credentials block; default: OPENAI_API_KEY.")
]
S3BlockParam = Annotated[
    str | None,
    Field(description="Name of an S3Bucket block; default: ARTIFACTS_BUCKET / auto-detect."),
]


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
    image: ImageParam,
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
) -> ProcessedImage:
    """Recreate one image with OpenAI (or offline) and publish it to S3 (or a local folder)."""
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
