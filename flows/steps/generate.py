"""Step 3, generate: recreate an image with the Responses API's image_generation tool.

What to ask for (GenerationOptions), the exact request body, and how an answer or an
error becomes a GeneratedImage or an ImageGenerationError that says what to do.
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import openai
from openai.types import responses

from flows.clients.openai_errors import translate_openai_error
from flows.config import (
    DEFAULT_BACKGROUND,
    DEFAULT_MODEL,
    DEFAULT_PROMPT,
    DEFAULT_QUALITY,
)
from flows.errors import ImageGenerationError
from flows.steps.encode import EncodedImage, detect_mime_type, sha256_hex
from flows.steps.usage import TokenUsage, usage_from_response

__all__ = ["GeneratedImage", "GenerationOptions", "OpenAIImageGenerator", "TokenUsage"]


@dataclass(frozen=True)
class GenerationOptions:
    """What to ask for; part of the cache key, so identical options never pay twice."""

    prompt: str | None = None
    model: str = DEFAULT_MODEL
    background: str = DEFAULT_BACKGROUND
    quality: str = DEFAULT_QUALITY

    @property
    def effective_prompt(self) -> str:
        """The prompt sent: the user's, else the default recreation prompt."""
        return self.prompt if self.prompt and self.prompt.strip() else DEFAULT_PROMPT

    def fingerprint(self) -> list[str]:
        """What changes the image, in a fixed order: the generation cache key and the
        reprocessing manifest both hash this, so they agree on what counts as "the same".

        An option added later must enter only when it differs from its default, so keys
        and manifests written before it existed still match (flows.pipeline.caching).
        """
        return [self.effective_prompt, self.model, self.background, self.quality]


@dataclass(frozen=True)
class GeneratedImage:
    """The generated PNG and what OpenAI said about it; bytes stay out of reprs."""

    png: bytes = field(repr=False)
    sha256: str
    generator: str
    response_id: str | None = None
    revised_prompt: str | None = None
    usage: TokenUsage | None = None
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

    def generate(self, image: EncodedImage, options: GenerationOptions) -> GeneratedImage:
        """Produce the new image."""
        ...

    def warm_up(self) -> None:
        """Pay once-per-process costs now, without any request (flows.batch.warmup)."""
        ...


def responses_arguments(image: EncodedImage, options: GenerationOptions) -> dict[str, Any]:
    """Keyword arguments for ``client.responses.create``: one user message, the tool forced."""
    return {
        "model": options.model,
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": options.effective_prompt},
                    {"type": "input_image", "image_url": image.data_url},
                ],
            }
        ],
        "tools": [
            {
                "type": "image_generation",
                "background": options.background,
                "quality": options.quality,
                "output_format": "png",
            }
        ],
        "tool_choice": {"type": "image_generation"},
    }


class OpenAIImageGenerator:
    """The real generator: OpenAI's Responses API through the official client."""

    def __init__(self, client: openai.OpenAI) -> None:
        self._client = client

    @property
    def name(self) -> str:
        return "openai-responses"

    def generate(self, image: EncodedImage, options: GenerationOptions) -> GeneratedImage:
        try:
            response = self._client.responses.create(**responses_arguments(image, options))
        except openai.APIError as exc:
            raise translate_openai_error(exc, options.model) from exc
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
