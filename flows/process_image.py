"""The ``process-image`` flow: load -> encode -> generate -> save -> upload -> cleanup."""

from __future__ import annotations

from typing import Annotated

from prefect import flow
from pydantic import BaseModel, Field

from flows.connections import GeneratorTarget, resolve_store_target
from flows.generate import Background, GenerationOptions, Quality, TokenUsage
from flows.report import report
from flows.settings import (
    DEFAULT_BACKGROUND,
    DEFAULT_MODEL,
    DEFAULT_QUALITY,
    DEFAULT_S3_PREFIX,
)
from flows.sources import classify_source
from flows.storage import output_filename
from flows.tasks import (
    cleanup_task,
    encode_task,
    generate_task,
    load_task,
    save_task,
    upload_task,
)
from flows.workspace import prepare_work_dir


class ProcessedImage(BaseModel):
    """What one run produced (no image bytes, no secrets)."""

    input: str
    s3_url: str
    public_url: str
    key: str
    loaded_bytes: int
    generated_bytes: int
    generator: str
    response_id: str | None = None
    usage: TokenUsage | None = None
    generation_cached: bool = False


@flow(name="process-image", log_prints=False)
def process_image(
    image: Annotated[str, Field(description="Image URL (http/https) or local file path.")],
    prompt: Annotated[
        str | None,
        Field(description="Prompt for OpenAI; empty uses the default recreation prompt."),
    ] = None,
    model: Annotated[str, Field(description="OpenAI model with the image_generation tool.")] = (
        DEFAULT_MODEL
    ),
    background: Annotated[
        Background, Field(description="Background of the generated image.")
    ] = DEFAULT_BACKGROUND,
    quality: Annotated[Quality, Field(description="Image quality setting.")] = DEFAULT_QUALITY,
    s3_prefix: Annotated[str, Field(description="S3 key prefix for the upload.")] = (
        DEFAULT_S3_PREFIX
    ),
    keep_temp: Annotated[
        bool, Field(description="Keep the downloaded input and generated PNG on disk.")
    ] = False,
    output_dir: Annotated[
        str | None,
        Field(description="Directory for temporary files (default: a temp dir)."),
    ] = None,
    offline: Annotated[
        bool,
        Field(description="Dry run: local Pillow generator and local storage, no key needed."),
    ] = False,
    openai_credentials_block: Annotated[
        str | None,
        Field(description="Name of an OpenAI Credentials block; default: OPENAI_API_KEY."),
    ] = None,
    s3_bucket_block: Annotated[
        str | None,
        Field(description="Name of an S3Bucket block; default: ARTIFACTS_BUCKET / auto-detect."),
    ] = None,
) -> ProcessedImage:
    """Recreate one image with OpenAI (or offline) and publish it to S3 (or a local folder)."""
    generator = GeneratorTarget(
        kind="offline" if offline else "openai",
        credentials_block=openai_credentials_block,
    )
    generator.check()
    source = classify_source(image)
    options = GenerationOptions(prompt=prompt, model=model, background=background, quality=quality)
    work_dir, created_work_dir = prepare_work_dir(output_dir)
    temporary: list[str] = []
    try:
        report("Step 1: Loading image...")
        kind = "URL" if source.kind == "url" else "local file"
        report(f"  Detected {kind}: {source.raw[:80]}...")
        loaded = load_task(image, str(work_dir))
        if loaded.temporary:
            temporary.append(loaded.path)
        report(f"  ✓ Loaded {loaded.size} bytes")
        encoded = encode_task(loaded)
        store = resolve_store_target(offline=offline, s3_bucket_block=s3_bucket_block)

        report("")
        report(
            "Step 2: Processing offline (local generator)..."
            if offline
            else "Step 2: Processing with OpenAI..."
        )
        report(f"  Model: {model}" + (" (ignored offline)" if offline else ""))
        report(
            "  Prompt: (using default recreation prompt)" if not prompt else f"  Prompt: {prompt}"
        )
        if offline and prompt:
            report("  Note: the offline generator ignores the prompt")
        state = generate_task(encoded, options, generator, return_state=True)
        generated = state.result()
        cached = state.name == "Cached"
        report(
            f"  ✓ Generated {generated.size} bytes" + (" (cached, no API call)" if cached else "")
        )
        saved = save_task(generated, str(work_dir))
        temporary.append(saved.path)

        report("")
        report("Step 3: Uploading to local storage..." if offline else "Step 3: Uploading to S3...")
        filename = output_filename(f"generated_{source.name}")
        published = upload_task(saved, filename, s3_prefix, store)
        report("  ✓ Uploaded to local storage" if offline else "  ✓ Uploaded to S3")
    finally:
        if keep_temp:
            report(f"  Kept temporary files in {work_dir}")
        else:
            cleanup_task([*temporary, *([str(work_dir)] if created_work_dir else [])])
    return ProcessedImage(
        input=image,
        s3_url=published.s3_url,
        public_url=published.public_url,
        key=published.key,
        loaded_bytes=loaded.size,
        generated_bytes=generated.size,
        generator=generated.generator,
        response_id=generated.response_id,
        usage=generated.usage,
        generation_cached=cached,
    )
