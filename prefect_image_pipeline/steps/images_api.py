"""The second generator: OpenAI's Images API (``images.edit``) instead of the Responses tool.

A direct path for pure recreation: no main model reads the prompt (no text-model tokens),
the input image and the references go as ``image[]`` parts of one multipart request, and
the answer is the image itself. It is also the endpoint OpenAI documents for image
batches. Selected with ``--api images`` / ``api="images"``; ``api`` is part of the cache
key, so an edits result never answers a Responses request.

What the endpoint lacks is refused before any call (``images_arguments`` and
GenerationOptions.check): ``moderation`` and ``action`` are image_generation tool fields
only, and references given as OpenAI file ids cannot be multipart parts.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

import openai

from prefect_image_pipeline.edges.openai.errors import translate_openai_error
from prefect_image_pipeline.errors import ImageGenerationError, InvalidOptionsError
from prefect_image_pipeline.options.generation import GenerationOptions
from prefect_image_pipeline.steps.encode import EncodedImage, detect_mime_type, sha256_hex
from prefect_image_pipeline.steps.generate import GeneratedImage
from prefect_image_pipeline.steps.references import ReferenceImage, inline_urls
from prefect_image_pipeline.steps.usage import TokenUsage

_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}


def _part(name: str, data_url: str) -> tuple[str, bytes, str]:
    """A multipart file part from a data URL: (file name, bytes, MIME type)."""
    header, _, payload = data_url.partition(",")
    mime = header.removeprefix("data:").split(";", 1)[0] or "image/png"
    return f"{name}.{_EXTENSIONS.get(mime, 'png')}", base64.b64decode(payload), mime


def edit_fields(options: GenerationOptions) -> dict[str, Any]:
    """What ``images.edit`` takes besides its images: the same in a multipart call and in
    a Batch API line's JSON (prefect_image_pipeline.batch_api.lines)."""
    return {
        "prompt": options.effective_prompt,
        **options.sent_as("edit_field"),
        "model": options.resolved_image_model,
    }


def images_arguments(
    image: EncodedImage,
    options: GenerationOptions,
    references: Sequence[ReferenceImage] = (),
    mask: ReferenceImage | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``client.images.edit``: the input, then each reference."""
    for ref in (*references, *([mask] if mask else [])):
        if ref.kind == "file_id":
            raise InvalidOptionsError(
                f"The Images API takes images as uploads, not file ids ({ref.shown}); "
                "pass the image itself, or use --api responses"
            )
        if ref.kind == "url":
            raise InvalidOptionsError(f"Reference {ref.shown} must be downloaded first")
    arguments: dict[str, Any] = {
        "image": [
            _part("input", image.data_url),
            *(_part(f"reference-{n}", ref.value) for n, ref in enumerate(references, 1)),
        ],
        **edit_fields(options),
    }
    if mask is not None:
        arguments["mask"] = _part("mask", mask.value)
    return arguments


class ImagesAPIGenerator:
    """``client.images.edit`` with the input image and the references."""

    def __init__(self, client: openai.OpenAI) -> None:
        self._client = client

    @property
    def name(self) -> str:
        return "openai-images"

    def generate(
        self,
        image: EncodedImage,
        options: GenerationOptions,
        references: Sequence[ReferenceImage] = (),
        mask: ReferenceImage | None = None,
    ) -> GeneratedImage:
        # Multipart takes bytes: URL references are fetched by our safe downloader first.
        refs = inline_urls(references, [ref.source for ref in references if ref.kind == "url"])
        if mask is not None and mask.kind == "url":
            fetched = inline_urls([mask], [mask.source])
            if not fetched:
                raise InvalidOptionsError(f"The mask {mask.shown} could not be downloaded")
            mask = fetched[0]
        arguments = images_arguments(image, options, refs, mask)
        try:
            response = self._client.images.edit(**arguments)
        except openai.APIError as exc:
            raise translate_openai_error(exc, options.model, arguments["model"]) from exc
        return parse_images_response(response, self.name)

    def warm_up(self) -> None:
        """Import the SDK's Images resource, sending nothing."""
        self._client.images  # noqa: B018 - the attribute access is the import


def parse_images_response(response: Any, generator: str = "openai-images") -> GeneratedImage:
    """The first image of an Images API answer, or an error saying what came back."""
    data = getattr(response, "data", None) or []
    if not data or not getattr(data[0], "b64_json", None):
        raise ImageGenerationError(
            "No generated image returned from OpenAI's Images API; try again or change the prompt"
        )
    try:
        png = base64.b64decode(data[0].b64_json, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageGenerationError("Malformed image from OpenAI: the result is not base64") from exc
    detect_mime_type(png, "the image in OpenAI's Images API answer")
    return GeneratedImage(
        png=png,
        sha256=sha256_hex(png),
        generator=generator,
        revised_prompt=getattr(data[0], "revised_prompt", None),
        usage=images_usage(getattr(response, "usage", None)),
    )


def images_usage(usage: Any) -> TokenUsage | None:
    """The Images API bills only the image model: its tokens, as the image tool's."""
    if usage is None:
        return None
    inputs = getattr(usage, "input_tokens_details", None)
    outputs = getattr(usage, "output_tokens_details", None)
    output_images = (
        int(getattr(outputs, "image_tokens", 0) or 0) if outputs else int(usage.output_tokens or 0)
    )
    return TokenUsage(
        image_tool_reported=True,
        image_input_text_tokens=int(getattr(inputs, "text_tokens", 0) or 0),
        image_input_image_tokens=int(getattr(inputs, "image_tokens", 0) or 0),
        image_output_text_tokens=int(getattr(outputs, "text_tokens", 0) or 0) if outputs else 0,
        image_output_image_tokens=output_images,
        image_total_tokens=int(usage.total_tokens or 0),
    )
