"""Everything about a run except its images, resolved once from the flow's parameters."""

from __future__ import annotations

from dataclasses import dataclass, field

from prefect_image_pipeline.cache.storage import check_cache_block
from prefect_image_pipeline.edges.prefect_server.context import this_run_or_new
from prefect_image_pipeline.edges.redis import check_reachable
from prefect_image_pipeline.options.generation import GenerationOptions
from prefect_image_pipeline.options.run import PublishOptions, RunOptions
from prefect_image_pipeline.pipeline.targets import (
    GeneratorTarget,
    StoreTarget,
    resolve_generator_target,
    resolve_store_target,
)
from prefect_image_pipeline.pricing import load_price_table
from prefect_image_pipeline.settings.config import settings
from prefect_image_pipeline.spending.limits import SpendLimits, check_cap
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
    publish: PublishOptions = field(default_factory=PublishOptions)  # web copies, alias
    # A jobs row's own options, hashed (pipeline.jobs): in its output's name, so two rows
    # of one input with different prompts never write the same key in the same second.
    output_tag: str | None = None


def resolve_request(
    run: RunOptions, main_input: str = "", pacing_key: str | None = None
) -> PipelineRequest:
    """The request a run's options describe, its generation options checked.

    Fails fast, before any image is touched, on options that cannot work, a missing OpenAI
    key or an unreadable bucket block.
    """
    options = run.generation.check()
    config = settings()
    load_price_table(config.prices_file)  # a bad price file fails now, not after paying
    if config.lock_url:  # the shared locks, rate and budget: refused now, never a hang
        check_reachable(config.lock_url.get_secret_value())
    offline = run.output.offline
    credentials = run.credentials
    limits = SpendLimits(
        run_key=pacing_key or this_run_or_new(),  # the key of the run's spending cap
        max_cost_usd=run.spend.max_cost_usd,
        daily_budget_usd=config.daily_budget_usd,
        budget_name=config.budget_name,
        batch=run.batch_mode.batch_api,
    )
    if not offline:
        check_cap(options, limits)
    estimate = run.spend.estimate_only  # no call, no upload: no key, no bucket needed
    generator = resolve_generator_target(
        offline, credentials.openai_credentials_block, limits, calling=not estimate
    )
    store = resolve_store_target(
        offline=offline,
        s3_bucket_block=credentials.s3_bucket_block,
        publishing=not estimate,
    )
    mask = run.references.mask
    # Honoured offline too: the generator kind is part of every key, so offline records
    # never answer a real request.
    cache_block = credentials.cache_block or config.cache_block
    if cache_block:
        check_cache_block(cache_block)  # a wrong name fails now, not after paying
    return PipelineRequest(
        options=options,
        s3_prefix=run.output.s3_prefix,
        generator=generator,
        store=store,
        keep_temp=run.output.keep_temp,
        references=prepare_references(
            run.references.reference_images or [], main_input, store.s3_client
        ),
        mask=prepare_mask(mask, store.s3_client) if mask else None,
        cache_block=cache_block,
        images_per_minute=run.pacing.images_per_minute,
        pacing_key=pacing_key,
        strict_checks=run.checks.strict_checks,
        publish=run.publish,
    )
