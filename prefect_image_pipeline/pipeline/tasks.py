"""The pipeline's Prefect tasks: thin wrappers adding caching, retries and logging.

Retries layer on purpose: the openai client retries quick blips itself
(IMAGE_PIPELINE_OPENAI_MAX_RETRIES, honouring Retry-After up to 120 s); when it gives up,
Prefect retries the task with exponential backoff and jitter, only for transient errors
(errors.is_transient), after the shared cooldown gate has passed. Both counts are
read when a run starts (``retrying``), never frozen at import.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar, cast

from prefect import Task, task
from prefect.logging import get_run_logger

from prefect_image_pipeline.cache.keys import COPIES_CACHE, GENERATION_CACHE, UPLOAD_CACHE
from prefect_image_pipeline.cache.records import RecordSerializer, register_legacy_modules
from prefect_image_pipeline.edges.cloudfront import invalidate
from prefect_image_pipeline.errors import is_transient
from prefect_image_pipeline.inputs import ImageInput
from prefect_image_pipeline.options.generation import GenerationOptions
from prefect_image_pipeline.pipeline.targets import GeneratorTarget, StoreTarget
from prefect_image_pipeline.settings.config import settings
from prefect_image_pipeline.steps.alias import AliasResult, alias_writes, point_alias
from prefect_image_pipeline.steps.cleanup import cleanup_temp_files
from prefect_image_pipeline.steps.encode import EncodedImage, encode_loaded
from prefect_image_pipeline.steps.generate import GeneratedImage
from prefect_image_pipeline.steps.load import LoadedImage, load_image
from prefect_image_pipeline.steps.references import ReferenceImage
from prefect_image_pipeline.steps.upload import (
    PublishedImage,
    SavedImage,
    build_object_key,
    save_generated,
)
from prefect_image_pipeline.steps.web_copies import WebCopies, publish_copies

TaskT = TypeVar("TaskT", bound=Task[Any, Any])
RETRY_JITTER_FACTOR = 0.5

register_legacy_modules()
_RECORDS = RecordSerializer()


def retry_transient_only(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect retry_condition_fn: retry 429/5xx/timeouts/resets, never a 4xx or bad input."""
    del task, task_run
    try:
        state.result()
    except Exception as exc:  # noqa: BLE001 - the state's exception is what we classify
        return is_transient(exc)
    return False


def retrying(step: TaskT) -> TaskT:
    """``step`` with the retries IMAGE_PIPELINE_TASK_RETRIES/RETRY_DELAY_SECONDS ask for now."""
    config = settings()
    return cast(TaskT, _with_retries(step, config.task_retries, config.retry_delay_seconds))


# Process-wide on purpose: one retrying copy per task and setting, not one per image.
@lru_cache(maxsize=32)
def _with_retries(step: Task[Any, Any], retries: int, base_delay: float) -> Task[Any, Any]:
    delays = [base_delay * 2**n for n in range(max(retries, 1))]
    return step.with_options(
        retries=retries,
        retry_delay_seconds=delays,
        retry_jitter_factor=RETRY_JITTER_FACTOR,
        retry_condition_fn=retry_transient_only,
    )


# Every task run is named for its step and its input ("encode logo.png"), so one image's
# run reads as the pipeline in the UI and a batch's runs can be told apart.
@task(name="load", task_run_name="load {label}")
def load_task(
    source: ImageInput, work_dir: str, store: StoreTarget, label: str = "image"
) -> LoadedImage:
    """Load the input (URL and S3 downloads land in the working directory)."""
    client = store.s3_client() if source.kind == "s3" else None
    loaded = load_image(source, work_dir, s3_client=client)
    get_run_logger().info("Loaded %s bytes from %s", loaded.size, source.description)
    return loaded


@task(name="encode", task_run_name="encode {label}")
def encode_task(loaded: LoadedImage, label: str = "image") -> EncodedImage:
    """Check the bytes are an image and build the data URL (never logged)."""
    encoded = encode_loaded(loaded)
    get_run_logger().info("Encoded %s (%s bytes)", encoded.mime_type, encoded.size)
    return encoded


@task(
    name="generate",
    # ``label`` is not part of the cache key (the same bytes under another name are not
    # paid twice).
    task_run_name="generate {label}",
    cache_policy=GENERATION_CACHE,
    persist_result=True,
    result_serializer=_RECORDS,
    cache_result_in_memory=False,  # results hold PNG bytes; keep memory flat in batches
)
def generate_task(
    image: EncodedImage,
    options: GenerationOptions,
    generator: GeneratorTarget,
    references: tuple[ReferenceImage, ...] = (),
    mask: ReferenceImage | None = None,
    label: str = "image",
) -> GeneratedImage:
    """Generate the new image; cached on the input hash, options and references across runs."""
    generated = generator.open(options.api).generate(image, options, references, mask)
    get_run_logger().info(
        "Generated %s bytes with %s (response %s)",
        generated.size,
        generated.generator,
        generated.response_id,
    )
    return generated


@task(name="save", task_run_name="save {label}")
def save_task(generated: GeneratedImage, work_dir: str, label: str = "image") -> SavedImage:
    """Write the generated PNG to the working directory."""
    return save_generated(generated, work_dir)


@task(
    name="upload",
    task_run_name="upload {label}",
    cache_policy=UPLOAD_CACHE,
    persist_result=True,
    result_serializer=_RECORDS,
    cache_result_in_memory=False,
)
def upload_task(
    image: SavedImage, filename: str, s3_prefix: str, store: StoreTarget, label: str = "image"
) -> PublishedImage:
    """Publish the PNG; cached so a rerun uploads nothing and reports the same URLs.

    The key's timestamp is the generation's, so even a rerun that lost this task's
    cached result (a crash mid-upload) overwrites the same object rather than adding one.
    """
    key = build_object_key(
        store.key_prefix(s3_prefix), filename, image.created_at, extension=image.extension
    )
    published = store.open().put_image(key, Path(image.path).read_bytes())
    get_run_logger().info("Uploaded %s", published.s3_url)
    return published


@task(
    name="copies",
    task_run_name="copies {label}",
    cache_policy=COPIES_CACHE,
    persist_result=True,
    result_serializer=_RECORDS,
    cache_result_in_memory=False,
)
def copies_task(
    image: SavedImage,
    output_key: str,
    widths: list[int] | None,
    formats: list[str] | None,
    store: StoreTarget,
    label: str = "image",
) -> WebCopies:
    """Publish the output's web copies; cached, so a rerun encodes and uploads nothing."""
    made = publish_copies(Path(image.path).read_bytes(), output_key, widths, formats, store.open())
    get_run_logger().info("Published %s web copies of %s", len(made.copies), output_key)
    return made


@task(name="alias", task_run_name="alias {label}")
def alias_task(
    base: str,
    published: PublishedImage,
    image: SavedImage,
    copies: WebCopies | None,
    max_age: int,
    store: StoreTarget,
    label: str = "image",
) -> AliasResult:
    """Point the stable alias at this output and its copies (S3-side copies, when changed)."""
    writes = alias_writes(
        base, published.key, image.sha256, image.mime_type, copies.copies if copies else []
    )
    result = point_alias(store.open(), writes, max_age)
    get_run_logger().info("Alias %s: %s rewritten", result.key, len(result.written))
    return result


@task(name="invalidate", task_run_name="invalidate {distribution_id}")
def invalidate_task(distribution_id: str, keys: list[str], reference: str) -> str | None:
    """Ask CloudFront to refresh the alias keys this run rewrote."""
    invalidation = invalidate(distribution_id, keys, reference)
    get_run_logger().info("CloudFront invalidation %s of %s path(s)", invalidation, len(keys))
    return invalidation


@task(name="cleanup", task_run_name="cleanup {label}")
def cleanup_task(paths: list[str], label: str = "image") -> int:
    """Remove temporary files, then directories (in ``paths`` order); never fails the run."""
    removed = cleanup_temp_files(*paths)
    get_run_logger().info("Removed %s temporary path(s)", removed)
    return removed
