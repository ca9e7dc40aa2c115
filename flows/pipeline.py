"""One image through the steps, shared by the single-image and batch flows.

load -> encode -> generate -> save -> upload, then cleanup of what this image left in
the working directory. Runs inside a flow or a task. In the single-image flow every step
is a Prefect task. In a batch (``inline_local_steps``) the steps that only touch local disk
(encode, save, cleanup, loading a local file) are plain calls in the image's thread:
they cannot fail transiently, so retries and caching buy nothing,
while each extra task run costs ~15 ms of worker CPU and ~70 ms of Prefect-server CPU
(docs/benchmarks.md). Generate, upload and remote loads stay cached, retrying tasks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefect.transactions import CommitMode, transaction
from pydantic import BaseModel

from flows.cleanup import cleanup_temp_files
from flows.connections import GeneratorTarget, StoreTarget
from flows.encode import EncodedImage
from flows.generate import GeneratedImage, GenerationOptions, TokenUsage
from flows.report import Reporter
from flows.storage import output_filename
from flows.tasks import cleanup_task, encode_task, generate_task, load_task, save_task, upload_task
from flows.url_policy import redact_url
from flows.workspace import (
    LoadedImage,
    SavedImage,
    encode_loaded,
    input_kind,
    input_label,
    load_image,
    save_generated,
)


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


@dataclass(frozen=True)
class _Steps:
    """How the local steps run: as their own task runs, or as plain calls."""

    inline: bool

    def load(self, image: str, work_dir: str, store: StoreTarget) -> LoadedImage:
        if self.inline and input_kind(image) == "local file":
            return load_image(image, work_dir)
        return load_task(image, work_dir, store, label=input_label(image))

    def encode(self, loaded: LoadedImage) -> EncodedImage:
        return encode_loaded(loaded) if self.inline else encode_task(loaded)

    def save(self, generated: GeneratedImage, work_dir: str) -> SavedImage:
        return (
            save_generated(generated, work_dir) if self.inline else save_task(generated, work_dir)
        )

    def cleanup(self, paths: list[str]) -> None:
        if self.inline:
            cleanup_temp_files(*paths)
        else:
            cleanup_task(paths)


def run_pipeline(
    image: str,
    request: PipelineRequest,
    work_dir: Path,
    say: Reporter = _silent,
    inline_local_steps: bool = False,
) -> ProcessedImage:
    """Process one image; temporary files are removed however it ends (unless keep_temp)."""
    steps = _Steps(inline=inline_local_steps)
    # EAGER persists each step's cached result as the step ends (not when an enclosing
    # transaction or task finishes), so a crash right after an upload never costs a
    # second generation or a second object.
    with transaction(commit_mode=CommitMode.EAGER):
        return _run_steps(image, request, work_dir, say, steps)


def _run_steps(
    image: str, request: PipelineRequest, work_dir: Path, say: Reporter, steps: _Steps
) -> ProcessedImage:
    offline = request.generator.kind == "offline"
    temporary: list[str] = []
    try:
        say("Step 1: Loading image...")
        kind = input_kind(image)
        shown = redact_url(image) if kind == "URL" else image  # no password or signature
        say(f"  Detected {kind}: {shown[:80]}...")
        loaded = steps.load(image, str(work_dir), request.store)
        if loaded.temporary:
            temporary.append(loaded.path)
        say(f"  ✓ Loaded {loaded.size} bytes")
        encoded = steps.encode(loaded)

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
        state = generate_task(
            encoded, request.options, request.generator, label=loaded.name, return_state=True
        )
        generated = state.result()
        cached = state.name == "Cached"
        say(f"  ✓ Generated {generated.size} bytes" + (" (cached, no API call)" if cached else ""))
        saved = steps.save(generated, str(work_dir))
        temporary.append(saved.path)

        say("")
        say("Step 3: Uploading to local storage..." if offline else "Step 3: Uploading to S3...")
        filename = output_filename(f"generated_{loaded.name}")
        published = upload_task(
            saved, filename, request.s3_prefix, request.store, label=loaded.name
        )
        say("  ✓ Uploaded to local storage" if offline else "  ✓ Uploaded to S3")
    finally:
        if request.keep_temp:
            say(f"  Kept temporary files in {work_dir}")
        elif temporary:
            steps.cleanup(temporary)
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
