"""One image through the steps, shared by the single-image and batch flows.

load -> encode -> generate -> save -> upload, then cleanup of what this image left in
the working directory. Runs inside a flow or a task; each step is a Prefect task.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefect.transactions import CommitMode, transaction
from pydantic import BaseModel

from flows.connections import GeneratorTarget, StoreTarget
from flows.generate import GenerationOptions, TokenUsage
from flows.report import Reporter
from flows.storage import output_filename
from flows.tasks import cleanup_task, encode_task, generate_task, load_task, save_task, upload_task
from flows.workspace import input_kind


@dataclass(frozen=True)
class PipelineRequest:
    """Everything about a run except the image: what to ask for and where to publish."""

    options: GenerationOptions
    s3_prefix: str
    generator: GeneratorTarget
    store: StoreTarget
    keep_temp: bool = False


class ProcessedImage(BaseModel):
    """What one image produced (no image bytes, no secrets)."""

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


def _silent(line: str) -> None:
    del line


def run_pipeline(
    image: str, request: PipelineRequest, work_dir: Path, say: Reporter = _silent
) -> ProcessedImage:
    """Process one image; temporary files are removed however it ends (unless keep_temp)."""
    # Inside the batch's process-one task, a step's cached result would otherwise be
    # written only when the parent task finishes; EAGER persists each step as it ends,
    # so a crash right after an upload never costs a second generation or a second object.
    with transaction(commit_mode=CommitMode.EAGER):
        return _run_steps(image, request, work_dir, say)


def _run_steps(
    image: str, request: PipelineRequest, work_dir: Path, say: Reporter
) -> ProcessedImage:
    offline = request.generator.kind == "offline"
    temporary: list[str] = []
    try:
        say("Step 1: Loading image...")
        say(f"  Detected {input_kind(image)}: {image[:80]}...")
        loaded = load_task(image, str(work_dir), request.store)
        if loaded.temporary:
            temporary.append(loaded.path)
        say(f"  ✓ Loaded {loaded.size} bytes")
        encoded = encode_task(loaded)

        say("")
        say(
            "Step 2: Processing offline (local generator)..."
            if offline
            else "Step 2: Processing with OpenAI..."
        )
        say(f"  Model: {request.options.model}" + (" (ignored offline)" if offline else ""))
        prompt = request.options.prompt
        say(f"  Prompt: {prompt}" if prompt else "  Prompt: (using default recreation prompt)")
        if offline and prompt:
            say("  Note: the offline generator ignores the prompt")
        state = generate_task(encoded, request.options, request.generator, return_state=True)
        generated = state.result()
        cached = state.name == "Cached"
        say(f"  ✓ Generated {generated.size} bytes" + (" (cached, no API call)" if cached else ""))
        saved = save_task(generated, str(work_dir))
        temporary.append(saved.path)

        say("")
        say("Step 3: Uploading to local storage..." if offline else "Step 3: Uploading to S3...")
        filename = output_filename(f"generated_{loaded.name}")
        published = upload_task(saved, filename, request.s3_prefix, request.store)
        say("  ✓ Uploaded to local storage" if offline else "  ✓ Uploaded to S3")
    finally:
        if request.keep_temp:
            say(f"  Kept temporary files in {work_dir}")
        elif temporary:
            cleanup_task(temporary)
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
