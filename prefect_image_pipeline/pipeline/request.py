"""Everything about a run except its images, resolved once from the flow's parameters."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from prefect_image_pipeline.cache.storage import check_cache_block
from prefect_image_pipeline.options.generation import GenerationOptions
from prefect_image_pipeline.options.parameters import generation_parameters
from prefect_image_pipeline.pipeline.targets import (
    GeneratorTarget,
    StoreTarget,
    resolve_generator_target,
    resolve_store_target,
)
from prefect_image_pipeline.pricing import load_price_table
from prefect_image_pipeline.settings.config import settings
from prefect_image_pipeline.steps.references import (
    PreparedReferences,
    ReferenceImage,
    prepare_mask,
    prepare_references,
)


@dataclass(frozen=True, kw_only=True)
class PipelineRequest:
    """What to ask for and where to publish (no secrets: blocks are named, not loaded)."""

    options: GenerationOptions
    s3_prefix: str
    generator: GeneratorTarget
    store: StoreTarget
    keep_temp: bool = False
    references: PreparedReferences = field(default_factory=PreparedReferences)
    mask: ReferenceImage | None = None
    cache_block: str | None = None  # None: this host's Prefect result storage
    images_per_minute: int | None = None  # None: no rate of the run's own
    pacing_key: str | None = None  # whose rate: a chunk's parent run, else this run
    strict_checks: bool = False  # a flagged output fails instead of being published


def generation_options(parameters: Mapping[str, Any]) -> GenerationOptions:
    """The options among ``parameters`` (named as in options.parameters), checked."""
    names = inspect.signature(generation_parameters).parameters
    values = {n: parameters[n] for n in names if n in parameters}
    if values.get("api") is None:  # the Batch API's documented image endpoint is images.edit
        values["api"] = "images" if parameters.get("batch_api") else "responses"
    return GenerationOptions(**values).check()


def resolve_request(
    parameters: Mapping[str, Any], main_input: str = "", pacing_key: str | None = None
) -> PipelineRequest:
    """The request a flow's shared parameters describe (options.parameters defines them).

    Fails fast, before any image is touched, on a missing OpenAI key or an unreadable
    bucket block. ``offline`` and ``keep_temp`` default to False where a flow has none.
    """
    offline = bool(parameters.get("offline", False))
    options = generation_options(parameters)
    load_price_table(settings().prices_file)  # a bad price file fails now, not after paying
    generator = resolve_generator_target(offline, parameters["openai_credentials_block"])
    store = resolve_store_target(offline=offline, s3_bucket_block=parameters["s3_bucket_block"])
    mask = parameters.get("mask")
    # Honoured offline too: the generator kind is part of every key, so offline records
    # never answer a real request.
    cache_block = parameters.get("cache_block") or settings().cache_block
    if cache_block:
        check_cache_block(cache_block)  # a wrong name fails now, not after paying
    return PipelineRequest(
        options=options,
        s3_prefix=parameters["s3_prefix"],
        generator=generator,
        store=store,
        keep_temp=bool(parameters.get("keep_temp", False)),
        references=prepare_references(
            parameters.get("reference_images") or [], main_input, store.s3_client
        ),
        mask=prepare_mask(mask, store.s3_client) if mask else None,
        cache_block=cache_block,
        images_per_minute=parameters.get("images_per_minute"),
        pacing_key=pacing_key,
        strict_checks=bool(parameters.get("strict_checks", False)),
    )
