"""Everything about a run except its images, resolved once from the flow's parameters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flows.pipeline.targets import (
    GeneratorTarget,
    StoreTarget,
    resolve_generator_target,
    resolve_store_target,
)
from flows.steps.generate import GenerationOptions


@dataclass(frozen=True, kw_only=True)
class PipelineRequest:
    """What to ask for and where to publish (no secrets: blocks are named, not loaded)."""

    options: GenerationOptions
    s3_prefix: str
    generator: GeneratorTarget
    store: StoreTarget
    keep_temp: bool = False


def resolve_request(parameters: Mapping[str, Any]) -> PipelineRequest:
    """The request a flow's shared parameters describe (flows.parameters defines them).

    Fails fast, before any image is touched, on a missing OpenAI key or an unreadable
    bucket block. ``offline`` and ``keep_temp`` default to False where a flow has none.
    """
    offline = bool(parameters.get("offline", False))
    return PipelineRequest(
        options=GenerationOptions(
            prompt=parameters["prompt"],
            model=parameters["model"],
            background=parameters["background"],
            quality=parameters["quality"],
        ),
        s3_prefix=parameters["s3_prefix"],
        generator=resolve_generator_target(offline, parameters["openai_credentials_block"]),
        store=resolve_store_target(offline=offline, s3_bucket_block=parameters["s3_bucket_block"]),
        keep_temp=bool(parameters.get("keep_temp", False)),
    )
