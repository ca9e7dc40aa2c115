"""Step 3, generate: recreate an image with the Responses API's image_generation tool.

The request comes from prefect_image_pipeline.options.generation; here an answer or an error becomes
a GeneratedImage or an ImageGenerationError that says what to do.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import openai
from openai.types import responses

from prefect_image_pipeline.edges.openai.errors import translate_openai_error
from prefect_image_pipeline.errors import ImageGenerationError
from prefect_image_pipeline.options.generation import GenerationOptions
from prefect_image_pipeline.steps.encode import EncodedImage, detect_mime_type, sha256_hex
from prefect_image_pipeline.steps.references import (
    ReferenceImage,
    inline_urls,
    unreachable_references,
)
from prefect_image_pipeline.steps.usage import TokenUsage, usage_from_response

logger = logging.getLogger(__name__)

__all__ = ["GeneratedImage", "ImageGenerator", "OpenAIImageGenerator", "parse_response"]


@dataclass(frozen=True)
class GeneratedImage:
    """The generated PNG and what OpenAI said about it; bytes stay out of reprs."""

    png: bytes = field(repr=False)
    sha256: str
    generator: str
    response_id: str | None = None
    revised_prompt: str | None = None
    usage: TokenUsage | None = None
    # The model refused transparency and --fallback-background made it opaque.
    background_fallback: bool = False
    # The model could not make transparency: the key colour (#RRGGBB) it painted the
    # background in, cut out here (steps.transparency), and the share made clear.
    cut_out_key: str | None = None
    cut_out_share: float | None = None
    # Unix time of generation. It stamps the object key, so a rerun after a crash (served
    # from the generation cache) writes the same key again instead of a duplicate object.
    created_at: int = field(default_factory=lambda: int(time.time()))

    @property
    def size(self) -> int:
        """Length of the PNG in bytes."""
        return len(self.png)


class ImageGenerator(Protocol):
    """Anything that turns an encoded image and options into a generated PNG."""

    @property
    def name(self) -> str:
        """Which generator made an image, recorded with it ("openai-responses")."""
        ...

    def generate(
        self,
        image: EncodedImage,
        options: GenerationOptions,
        references: Sequence[ReferenceImage] = (),
        mask: ReferenceImage | None = None,
    ) -> GeneratedImage:
        """Produce the new image."""
        ...

    def warm_up(self) -> None:
        """Pay once-per-process costs now, without any request (batch.warmup)."""
        ...


class OpenAIImageGenerator:
    """The real generator: OpenAI's Responses API through the official client."""

    def __init__(self, client: openai.OpenAI) -> None:
        self._client = client

    @property
    def name(self) -> str:
        return "openai-responses"

    def generate(
        self,
        image: EncodedImage,
        options: GenerationOptions,
        references: Sequence[ReferenceImage] = (),
        mask: ReferenceImage | None = None,
    ) -> GeneratedImage:
        refs = tuple(references)
        try:
            return self._generate(image, options, refs, mask)
        except ImageGenerationError as error:
            unreachable = unreachable_references(error, refs)
            if not unreachable:
                raise
        # OpenAI could not fetch a URL we passed: fetch it ourselves, once.
        logger.warning("OpenAI could not download %s; sending it inline", unreachable)
        return self._generate(image, options, inline_urls(refs, unreachable), mask)

    def _generate(
        self,
        image: EncodedImage,
        options: GenerationOptions,
        references: Sequence[ReferenceImage],
        mask: ReferenceImage | None,
    ) -> GeneratedImage:
        arguments = responses_arguments(image, options, references, mask)
        try:
            response = self._client.responses.create(**arguments)
        except openai.APIError as exc:
            raise translate_openai_error(exc, options.model, options.resolved_image_model) from exc
        except ValueError as exc:  # JSONDecodeError: a truncated or non-JSON body
            raise ImageGenerationError(
                "Malformed response from OpenAI: the body is not valid JSON; "
                "check OPENAI_BASE_URL points at the OpenAI API"
            ) from exc
        return parse_response(response, self.name)

    def warm_up(self) -> None:
        """Import the SDK's Responses resource and build its answer models, sending nothing.

        Both happen lazily on a process's first call (~0.4 s of CPU, measured): the
        resource module is imported on first access and the pydantic models of a Response
        are completed the first time one is built.
        """
        responses.Response.model_construct(**_WARM_UP_RESPONSE)
        self._client.responses  # noqa: B018 - the attribute access is the import


# Shaped like a successful image answer so building it completes the same nested models.
_WARM_UP_RESPONSE: dict[str, Any] = {
    "id": "resp_warm_up",
    "object": "response",
    "created_at": 0,
    "model": "warm-up",
    "status": "completed",
    "output": [{"type": "image_generation_call", "id": "ig_warm_up", "status": "completed"}],
    "tools": [{"type": "image_generation"}],
    "tool_choice": {"type": "image_generation"},
    "usage": {
        "input_tokens": 0,
        "output_tokens": 0,
        "total_tokens": 0,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    },
}


def parse_response(response: Any, generator: str = "openai-responses") -> GeneratedImage:
    """The first image_generation_call's image, or an error naming the response id."""
    if not hasattr(response, "output"):
        # A non-JSON body (a proxy's HTML error page) comes back from the client as a str.
        raise ImageGenerationError(
            f"Malformed response from OpenAI: expected a Response, got {type(response).__name__}; "
            "check OPENAI_BASE_URL points at the OpenAI API"
        )
    response_id = getattr(response, "id", None)
    calls = [item for item in response.output or [] if item.type == "image_generation_call"]
    if not calls:
        kinds = ", ".join(item.type for item in response.output or []) or "nothing"
        raise ImageGenerationError(
            f"No generated image returned from OpenAI (response {response_id}): the output held "
            f"{kinds}; check the model supports the image_generation tool",
            response_id=response_id,
        )
    call = calls[0]
    if call.status == "failed" or not call.result:
        raise ImageGenerationError(
            f"No generated image returned from OpenAI (response {response_id}): the "
            f"image_generation_call {call.id} ended '{call.status}'; "
            "try again or change the prompt",
            response_id=response_id,
        )
    try:
        png = base64.b64decode(call.result, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageGenerationError(
            f"Malformed image from OpenAI (response {response_id}): the result is not base64",
            response_id=response_id,
        ) from exc
    detect_mime_type(png, f"the image in OpenAI response {response_id}")
    return GeneratedImage(
        png=png,
        sha256=sha256_hex(png),
        generator=generator,
        response_id=response_id,
        revised_prompt=getattr(call, "revised_prompt", None),
        usage=usage_from_response(response),
    )


def responses_arguments(
    image: EncodedImage,
    options: GenerationOptions,
    references: Sequence[ReferenceImage] = (),
    mask: ReferenceImage | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``client.responses.create``: one user message, the tool forced.

    The message holds the prompt, the input image, then each reference in order.
    """
    tool = options.tool()
    if mask is not None:
        tool["input_image_mask"] = mask.mask()
    return {
        "model": options.model,
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": options.effective_prompt},
                    {"type": "input_image", "image_url": image.data_url, "detail": options.detail},
                    *(ref.item(options.detail) for ref in references),
                ],
            }
        ],
        "tools": [tool],
        "tool_choice": {"type": "image_generation"},
    }
