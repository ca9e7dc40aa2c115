"""The pipeline's Prefect tasks: thin wrappers adding caching, retries and logging.

Retries layer on purpose: the openai client retries quick blips itself
(max_retries=2, honouring Retry-After up to 120 s); when it gives up, Prefect
retries the task with exponential backoff and jitter, only for transient errors
(flows.errors.is_transient), after the shared cooldown gate has passed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task
from prefect.logging import get_run_logger

from flows.backoff import retry_transient_only
from flows.caching import GENERATION_CACHE, UPLOAD_CACHE
from flows.cleanup import cleanup_temp_files
from flows.connections import GeneratorTarget, StoreTarget, open_store, s3_client
from flows.encode import EncodedImage
from flows.generate import GeneratedImage, GenerationOptions
from flows.openai_budget import openai_slot
from flows.s3_inputs import is_s3_uri
from flows.settings import RetrySettings
from flows.storage import PublishedImage, build_object_key
from flows.workspace import (
    LoadedImage,
    SavedImage,
    encode_loaded,
    input_kind,
    load_image,
    save_generated,
)

_RETRY = RetrySettings.from_env()
_RETRYING: dict[str, Any] = {
    "retries": _RETRY.task_retries,
    "retry_delay_seconds": _RETRY.delays(),
    "retry_jitter_factor": _RETRY.jitter_factor,
    "retry_condition_fn": retry_transient_only,
}


@task(name="load", task_run_name="load {label}", **_RETRYING)
def load_task(image: str, work_dir: str, store: StoreTarget, label: str = "image") -> LoadedImage:
    """Load the input (URL and S3 downloads land in the working directory)."""
    client = s3_client(store) if is_s3_uri(image) else None
    loaded = load_image(image, work_dir, s3_client=client)
    get_run_logger().info("Loaded %s bytes from %s", loaded.size, input_kind(image))
    return loaded


@task(name="encode")
def encode_task(loaded: LoadedImage) -> EncodedImage:
    """Check the bytes are an image and build the data URL (never logged)."""
    encoded = encode_loaded(loaded)
    get_run_logger().info("Encoded %s (%s bytes)", encoded.mime_type, encoded.size)
    return encoded


@task(
    name="generate",
    # Named after the input, so a batch's runs can be told apart in the UI; ``label``
    # is not part of the cache key (the same bytes under another name are not paid twice).
    task_run_name="generate {label}",
    cache_policy=GENERATION_CACHE,
    persist_result=True,
    cache_result_in_memory=False,  # results hold PNG bytes; keep memory flat in batches
    **_RETRYING,
)
def generate_task(
    image: EncodedImage,
    options: GenerationOptions,
    generator: GeneratorTarget,
    label: str = "image",
) -> GeneratedImage:
    """Generate the new image; cached on the input hash and options across runs.

    OpenAI calls also take a slot of the global concurrency limit named by
    IMAGE_PIPELINE_OPENAI_LIMIT (if it exists), so every run and worker shares one budget.
    """
    if generator.kind == "offline":
        generated = generator.open().generate(image, options)
    else:
        with openai_slot():
            generated = generator.open().generate(image, options)
    get_run_logger().info(
        "Generated %s bytes with %s (response %s)",
        generated.size,
        generated.generator,
        generated.response_id,
    )
    return generated


@task(name="save")
def save_task(generated: GeneratedImage, work_dir: str) -> SavedImage:
    """Write the generated PNG to the working directory."""
    return save_generated(generated, work_dir)


@task(
    name="upload",
    task_run_name="upload {label}",
    cache_policy=UPLOAD_CACHE,
    persist_result=True,
    cache_result_in_memory=False,
    **_RETRYING,
)
def upload_task(
    image: SavedImage, filename: str, s3_prefix: str, store: StoreTarget, label: str = "image"
) -> PublishedImage:
    """Publish the PNG; cached so a rerun uploads nothing and reports the same URLs.

    The key's timestamp is the generation's, so even a rerun that lost this task's
    cached result (a crash mid-upload) overwrites the same object rather than adding one.
    """
    key = build_object_key(store.key_prefix(s3_prefix), filename, timestamp=image.created_at)
    published = open_store(store).put_png(key, Path(image.path).read_bytes())
    get_run_logger().info("Uploaded %s", published.s3_url)
    return published


@task(name="cleanup")
def cleanup_task(paths: list[str]) -> int:
    """Remove temporary files and directories; never fails the run."""
    removed = cleanup_temp_files(*paths)
    get_run_logger().info("Removed %s temporary path(s)", removed)
    return removed
