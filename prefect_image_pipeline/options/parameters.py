"""The flows' parameters, defined once: type, bounds, choices, default and UI description.

Each group below is a function whose keyword-only signature *is* the definition of some
parameters. ``with_parameters`` adds groups to a flow's own parameters, so the flows
share one definition while Prefect still sees flat parameters (``-p quality=high``, the
UI form, validation before a run exists). Prefect reads a parameter's description only
from the docstring's ``Args:`` section (``Field(description=...)`` inside ``Annotated`` is
dropped), so the same decorator writes that section from ``DESCRIPTIONS``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, ParamSpec, TypeVar

from pydantic import Field

from prefect_image_pipeline.options.generation import Api
from prefect_image_pipeline.options.sdk import (
    Action,
    Background,
    Complexity,
    Detail,
    ImageModel,
    InputFidelity,
    Moderation,
    OutputFormat,
    Quality,
    Size,
)
from prefect_image_pipeline.settings.config import (
    DEFAULT_BACKGROUND,
    DEFAULT_DETAIL,
    DEFAULT_MODEL,
    DEFAULT_OUTPUT_FORMAT,
    DEFAULT_QUALITY,
    DEFAULT_S3_PREFIX,
)

ResultT = TypeVar("ResultT")
# The flow's own static signature (its parameters and ``**options: Any``) stays its type.
ParamsT = ParamSpec("ParamsT")

ImagesParam = Annotated[list[str], Field(min_length=1)]
ConcurrencyParam = Annotated[int, Field(ge=1, le=64)]
ImagesPerMinute = Annotated[int, Field(ge=1, le=100_000)]
ChunkSize = Annotated[int, Field(ge=1, le=100_000)]
DestinationParam = Annotated[str, Field(min_length=1)]
Compression = Annotated[int, Field(ge=0, le=100)]


def generation_parameters(
    *,
    prompt: str | None = None,
    model: str = DEFAULT_MODEL,
    background: Background = DEFAULT_BACKGROUND,
    quality: Quality = DEFAULT_QUALITY,
    image_model: ImageModel = None,
    size: Size | None = None,
    output_format: OutputFormat = DEFAULT_OUTPUT_FORMAT,
    output_compression: Compression | None = None,
    input_fidelity: InputFidelity = None,
    moderation: Moderation | None = None,
    action: Action | None = None,
    detail: Detail = DEFAULT_DETAIL,
    fallback_background: bool = False,
    api: Api | None = None,
    complexity: Complexity | None = None,
) -> None:
    """What to ask OpenAI for: the fields of options.generation.GenerationOptions."""


def reference_parameters(
    *,
    reference_images: list[str] | None = None,
    mask: str | None = None,
) -> None:
    """Images sent besides the input (prefect_image_pipeline.steps.references)."""


def output_parameters(
    *,
    s3_prefix: str = DEFAULT_S3_PREFIX,
    keep_temp: bool = False,
    output_dir: str | None = None,
    offline: bool = False,
) -> None:
    """Where the results and temporary files go."""


def pacing_parameters(*, images_per_minute: ImagesPerMinute | None = None) -> None:
    """How fast this run may send images to OpenAI (prefect_image_pipeline.pacing.rate)."""


def check_parameters(*, strict_checks: bool = False) -> None:
    """What a flagged output means (prefect_image_pipeline.checks.output_checks)."""


def report_parameters(*, report_key: str | None = None) -> None:
    """Where a batch writes its review page (prefect_image_pipeline.review.report)."""


def batch_parameters(*, batch_api: bool = False, wait_for_batch: bool = False) -> None:
    """Whether this run goes through OpenAI's Batch API (prefect_image_pipeline.batch_api)."""


def credential_parameters(
    *,
    openai_credentials_block: str | None = None,
    s3_bucket_block: str | None = None,
    cache_block: str | None = None,
) -> None:
    """Which saved blocks hold the OpenAI key, the bucket and the shared cache."""


DESCRIPTIONS: dict[str, str] = {
    "image": "Image URL (http/https), s3:// URI or local path.",
    "images": "Inputs: http(s) URLs, s3:// URIs or local paths (duplicates run once).",
    "source_prefix": "Bucket prefix holding the source images.",
    "destination_prefix": "Bucket prefix for the outputs (and the manifest).",
    "manifest_key": "Manifest key; default: {destination_prefix}/manifest.json.",
    "concurrency": (
        "Most OpenAI calls in flight at once, 1 to 64 (as many other images may be "
        "loading or uploading meanwhile)."
    ),
    "prompt": "Prompt for OpenAI; empty uses the default recreation prompt.",
    "model": "OpenAI model with the image_generation tool.",
    "background": "Background of the generated image.",
    "quality": "Image quality setting.",
    "image_model": "Image model of the image_generation tool; empty: OpenAI's default.",
    "size": "auto or WIDTHxHEIGHT (multiples of 16, aspect 1:3 to 3:1); empty: OpenAI decides.",
    "output_format": "Format of the generated image (png and webp keep transparency).",
    "output_compression": "Compression 0-100 for webp and jpeg output; empty: OpenAI's default.",
    "input_fidelity": "How closely to keep the input's features (high or low); empty: default.",
    "moderation": "Moderation level of the generated image; empty: OpenAI's default (auto).",
    "action": "generate, edit or auto; empty: OpenAI decides.",
    "detail": "Detail level at which OpenAI reads the input images.",
    "complexity": (
        "Planning effort of the image model (low, medium, high), apart from quality; "
        "empty: the model's default."
    ),
    "api": (
        "OpenAI endpoint: responses (the image_generation tool, as the reference) or images "
        "(images.edit: no main model; no moderation or action); empty: responses, or images "
        "in batch mode."
    ),
    "batch_api": (
        "Submit to OpenAI's Batch API at half price (answers within 24 h); a later run, "
        "wait_for_batch or collect-batches publishes them."
    ),
    "wait_for_batch": "Batch mode: poll until the batches end, then publish (this run waits).",
    "strict_checks": (
        "Fail an output the checks flag (wrong format or size, no transparency, blank, "
        "drifted) instead of publishing it; its cost is still reported."
    ),
    "report_key": (
        "Bucket key of an HTML review page (source beside result, checks, cost); its JSON "
        "lines go beside it (.jsonl). Empty: none."
    ),
    "reference_images": (
        "Extra images after the input, in order: URLs, s3:// URIs, paths or file-… ids "
        "(16 images at most in all)."
    ),
    "mask": (
        "Inpainting mask: a PNG whose transparent areas are repainted (path, URL, s3:// or "
        "file-… id)."
    ),
    "fallback_background": (
        "If the image model cannot make transparency, make the image opaque instead of "
        "cutting the background out locally."
    ),
    "s3_prefix": "S3 key prefix for the uploads.",
    "keep_temp": "Keep downloaded inputs and generated PNGs on disk.",
    "output_dir": "Directory for temporary files (default: a temp dir).",
    "offline": "Dry run: local Pillow generator and local storage, no key needed.",
    "openai_credentials_block": "Name of an OpenAI Credentials block; default: OPENAI_API_KEY.",
    "s3_bucket_block": "Name of an S3Bucket block; default: ARTIFACTS_BUCKET / auto-detect.",
    "images_per_minute": (
        "Most images this run sends OpenAI per minute (spaced evenly, burst 2); empty: "
        "no rate of its own (the fleet's IMAGE_PIPELINE_RATE_LIMIT still applies)."
    ),
    "chunk_size": (
        "Split the batch into child runs of this many images on the work pool (needs the "
        "shared cache); empty: one run does it all."
    ),
    "chunk_deployment": "Deployment that runs each chunk (flow/deployment).",
    "chunk_of": "Set by a chunked parent for its children (parent run id/chunk); leave empty.",
    "cache_block": (
        "S3Bucket block holding the cache every host shares; default: "
        "IMAGE_PIPELINE_CACHE_BLOCK, else this host's Prefect storage."
    ),
}


def with_parameters(
    *groups: Callable[..., None],
) -> Callable[[Callable[ParamsT, ResultT]], Callable[ParamsT, ResultT]]:
    """Give a flow the parameters of ``groups`` after its own (apply under ``@flow``).

    The flow takes them as ``**options``. Its docstring gains an ``Args:`` section
    describing every parameter; a parameter missing from DESCRIPTIONS fails at import,
    so none reaches the UI form undocumented.
    """

    def decorate(fn: Callable[ParamsT, ResultT]) -> Callable[ParamsT, ResultT]:
        own = [
            p
            for p in inspect.signature(fn, eval_str=True).parameters.values()
            if p.kind is not inspect.Parameter.VAR_KEYWORD
        ]
        shared = [
            p
            for group in groups
            for p in inspect.signature(group, eval_str=True).parameters.values()
        ]

        @functools.wraps(fn)
        def flow_function(*args: ParamsT.args, **kwargs: ParamsT.kwargs) -> ResultT:
            return fn(*args, **kwargs)

        del flow_function.__wrapped__  # type: ignore[attr-defined]  # the signature below is the truth
        signature = inspect.signature(fn).replace(parameters=[*own, *shared])
        flow_function.__signature__ = signature  # type: ignore[attr-defined]
        flow_function.__annotations__ = {
            **{name: p.annotation for name, p in signature.parameters.items()},
            "return": signature.return_annotation,
        }
        flow_function.__doc__ = _with_args_section(fn.__doc__, signature)
        return flow_function

    return decorate


def _with_args_section(doc: str | None, signature: inspect.Signature) -> str:
    # One line each: a wrapped line would reach the UI with its line break.
    lines = [f"    {name}: {DESCRIPTIONS[name]}" for name in signature.parameters]
    return f"{inspect.cleandoc(doc or '')}\n\nArgs:\n" + "\n".join(lines) + "\n"
