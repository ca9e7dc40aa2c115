"""The options of a run besides what is asked of OpenAI, each defined once, and the whole.

Each group is a frozen dataclass of ``option(...)`` fields (options.fields). ``RunOptions``
holds one of each; a flow builds it from its flat parameters (``RunOptions.from_parameters``)
and reads typed attributes, never string keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Annotated, Any, Literal, Self

from pydantic import Field

from prefect_image_pipeline.options.fields import (
    from_parameters,
    option,
    options_of,
    to_parameters,
)
from prefect_image_pipeline.options.generation import GenerationOptions
from prefect_image_pipeline.settings.config import DEFAULT_S3_PREFIX

ImagesPerMinute = Annotated[int, Field(ge=1, le=100_000)]
Concurrency = Annotated[int, Field(ge=1, le=64)]
ChunkSize = Annotated[int, Field(ge=1, le=100_000)]
Dollars = Annotated[float, Field(gt=0, le=1_000_000)]
DEFAULT_CHUNK_DEPLOYMENT = "process-images/batch"


@dataclass(frozen=True)
class ReferenceOptions:
    """Images sent besides the input (steps.references)."""

    reference_images: list[str] | None = option(
        None,
        "Extra images after the input, in order: URLs, s3:// URIs, paths or file-… ids "
        "(16 images at most in all).",
        flags=("--reference",),
        metavar="IMAGE",
        per_image=True,
    )
    mask: str | None = option(
        None,
        "Inpainting mask: a PNG whose transparent areas are repainted (path, URL, s3:// or "
        "file-… id).",
        metavar="PNG",
        per_image=True,
    )


@dataclass(frozen=True)
class OutputOptions:
    """Where the results and temporary files go."""

    s3_prefix: str = option(
        DEFAULT_S3_PREFIX, "S3 key prefix for the uploads.", metavar="PREFIX", per_image=True
    )
    keep_temp: bool = option(False, "Keep downloaded inputs and generated PNGs on disk.")
    output_dir: str | None = option(
        None,
        "Directory for temporary files (default: a temp dir).",
        flags=("-o", "--output-dir"),
        metavar="DIR",
    )
    offline: bool = option(
        False, "Dry run: local Pillow generator and local storage, no key needed."
    )


@dataclass(frozen=True)
class PacingOptions:
    """How fast this run may send images to OpenAI (pacing)."""

    images_per_minute: int | None = option(
        None,
        "Most images this run sends OpenAI per minute (spaced evenly, burst 2); empty: "
        "no rate of its own (the fleet's IMAGE_PIPELINE_RATE_LIMIT still applies).",
        annotation=ImagesPerMinute | None,
        metavar="N",
    )


@dataclass(frozen=True)
class BatchModeOptions:
    """Whether this run goes through OpenAI's Batch API (batch_api)."""

    batch_api: bool = option(
        False,
        "Submit to OpenAI's Batch API at half price (answers within 24 h); a later run, "
        "wait_for_batch or collect-batches publishes them.",
    )
    wait_for_batch: bool = option(
        False,
        "Batch mode: poll until the batches end, then publish (this run waits).",
        flags=("--wait",),
    )


@dataclass(frozen=True)
class CheckOptions:
    """What a flagged output means (checks)."""

    strict_checks: bool = option(
        False,
        "Fail an output the checks flag (wrong format or size, no transparency, blank, "
        "drifted) instead of publishing it; its cost is still reported.",
        per_image=True,
    )


@dataclass(frozen=True)
class SpendOptions:
    """What a run may spend (spending), and a look at the price before paying."""

    max_cost_usd: float | None = option(
        None,
        "Most US dollars this run may spend on OpenAI: a request that would cross it is "
        "not sent (in-flight ones finish) and its image is reported not started. Empty: "
        "no cap (IMAGE_PIPELINE_DAILY_BUDGET_USD still applies).",
        annotation=Dollars | None,
        flags=("--max-cost",),
        metavar="USD",
    )
    estimate_only: bool = option(
        False,
        "Show what the run would cost (each image, the total, interactive and Batch API "
        "price, cached images free) and stop: no OpenAI call, nothing uploaded.",
        flags=("--estimate",),
    )


@dataclass(frozen=True)
class ReportOptions:
    """Where a batch writes its review page (review.report)."""

    report_key: str | None = option(
        None,
        "Bucket key of an HTML review page (source beside result, checks, cost); its JSON "
        "lines go beside it (.jsonl). Empty: none.",
        flags=None,  # process-image writes a local page instead: --report PATH.html
    )


@dataclass(frozen=True)
class CredentialOptions:
    """Which saved blocks hold the OpenAI key, the bucket and the shared cache."""

    openai_credentials_block: str | None = option(
        None,
        "Name of an OpenAI Credentials block; default: OPENAI_API_KEY.",
        flags=("--openai-block",),
        metavar="NAME",
    )
    s3_bucket_block: str | None = option(
        None,
        "Name of an S3Bucket block; default: ARTIFACTS_BUCKET / auto-detect.",
        flags=("--s3-block",),
        metavar="NAME",
    )
    cache_block: str | None = option(
        None,
        "S3Bucket block holding the cache every host shares; default: "
        "IMAGE_PIPELINE_CACHE_BLOCK, else this host's Prefect storage.",
        metavar="NAME",
    )


@dataclass(frozen=True)
class ConcurrencyOptions:
    """How many images a batch works on at once (batch)."""

    concurrency: int = option(
        4,
        "Most OpenAI calls in flight at once, 1 to 64 (as many other images may be "
        "loading or uploading meanwhile).",
        annotation=Concurrency,
        metavar="N",
    )


@dataclass(frozen=True)
class ChunkOptions:
    """Whether a batch runs as child runs on the work pool (batch.chunks)."""

    chunk_size: int | None = option(
        None,
        "Split the batch into child runs of this many images on the work pool (needs the "
        "shared cache); empty: one run does it all.",
        annotation=ChunkSize | None,
        metavar="N",
    )
    chunk_deployment: str = option(
        DEFAULT_CHUNK_DEPLOYMENT,
        "Deployment that runs each chunk (flow/deployment).",
        metavar="FLOW/DEPLOYMENT",
    )


WebWidth = Annotated[int, Field(ge=16, le=8192)]
WebFormatName = Literal["webp", "avif", "png", "jpeg"]
MaxAge = Annotated[int, Field(ge=0, le=31_536_000)]


@dataclass(frozen=True)
class PublishOptions:
    """What is published besides the output: web copies and a stable address (web)."""

    widths: list[int] | None = option(
        None,
        "Also publish copies this many pixels wide (e.g. 320,640,1280; never wider than "
        "the output), in each of formats.",
        annotation=list[WebWidth] | None,
        metavar="W,W,...",
        separator=",",
        per_image=True,
    )
    formats: list[str] | None = option(
        None,
        "Formats of the copies (e.g. webp,avif); empty: the output's own. Without widths: "
        "one full-size copy per format.",
        annotation=list[WebFormatName] | None,
        metavar="FMT,FMT,...",
        separator=",",
        per_image=True,
    )
    alias: str | None = option(
        None,
        "Also write the output and its copies under this stable key (e.g. logos/acme.png; "
        "{stem} for each image's name in a batch), rewritten only when the image changes; "
        "CLOUDFRONT_DISTRIBUTION_ID set: the CDN is told to refresh it.",
        metavar="KEY",
        per_image=True,
    )
    alias_max_age: int = option(
        300,
        "Seconds browsers and the CDN may keep the alias before asking again.",
        annotation=MaxAge,
        metavar="SECONDS",
        per_image=True,
    )


@dataclass(frozen=True)
class NotifyOptions:
    """Who hears about each image and the run besides Prefect's events (announce)."""

    callback_url: str | None = option(
        None,
        "POST each finished image and the run's end here as JSON, signed with "
        "IMAGE_PIPELINE_CALLBACK_SECRET when set; retried, never holding the run up.",
        metavar="URL",
    )


@dataclass(frozen=True)
class RunOptions:
    """Every option of a run, by group; what a flow's flat parameters describe."""

    generation: GenerationOptions = field(default_factory=GenerationOptions)
    references: ReferenceOptions = field(default_factory=ReferenceOptions)
    output: OutputOptions = field(default_factory=OutputOptions)
    pacing: PacingOptions = field(default_factory=PacingOptions)
    batch_mode: BatchModeOptions = field(default_factory=BatchModeOptions)
    checks: CheckOptions = field(default_factory=CheckOptions)
    spend: SpendOptions = field(default_factory=SpendOptions)
    report: ReportOptions = field(default_factory=ReportOptions)
    credentials: CredentialOptions = field(default_factory=CredentialOptions)
    concurrency: ConcurrencyOptions = field(default_factory=ConcurrencyOptions)
    chunks: ChunkOptions = field(default_factory=ChunkOptions)
    publish: PublishOptions = field(default_factory=PublishOptions)
    notify: NotifyOptions = field(default_factory=NotifyOptions)

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, Any]) -> Self:
        """The options among a flow's flat parameters; the rest keep their defaults.

        ``api`` left empty is decided here: images.edit in batch mode (the Batch API's
        documented image endpoint), else the Responses API.
        """
        known = {o.name for group in option_groups().values() for o in options_of(group)}
        unknown = sorted(set(parameters) - known)
        if unknown:
            raise TypeError(f"Unknown run options: {', '.join(unknown)}")
        run = cls(**{n: from_parameters(g, parameters) for n, g in option_groups().items()})
        if parameters.get("api") is None and run.batch_mode.batch_api:
            run = replace(run, generation=replace(run.generation, api="images"))
        return run

    def to_parameters(self) -> dict[str, Any]:
        """Flat flow parameters (a chunk's child run, a batch ledger entry)."""
        return {
            k: v for name in option_groups() for k, v in to_parameters(getattr(self, name)).items()
        }


def option_groups() -> dict[str, type]:
    """RunOptions' groups by attribute name, in order."""
    return {f.name: f.default_factory for f in fields(RunOptions)}  # type: ignore[misc]
