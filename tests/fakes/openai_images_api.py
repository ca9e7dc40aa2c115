"""The fake's ``POST /v1/images/edits``: OpenAI's Images API as the real client sends it.

The openai client sends a multipart form: ``image[]`` file parts (or one ``image``),
an optional ``mask`` part, and every other parameter as a text field. The form is
checked against the SDK's own ``ImageEditParamsNonStreaming`` (unknown fields refused,
literals checked) before anything is answered; the answer is an ``ImagesResponse`` whose
image is the first input re-encoded in the requested format and size.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, get_type_hints

import typing_extensions
from openai.types.image_edit_params import ImageEditParamsNonStreaming

from .openai_images import generated_image, requested_size
from .openai_models import DEFAULT_IMAGE_MODEL
from .openai_spec import SpecError, check_request
from .openai_usage import INPUT_IMAGE_TOKENS, _output_tokens

IMAGES_EDITS_PATH = "/v1/images/edits"
_FILE_FIELDS = ("image", "mask")
_INT_FIELDS = ("output_compression", "n", "partial_images", "frame_count", "frame_duration_ms")
# The SDK's edit parameters minus the file parts (checked apart: the spec checker reads
# JSON-shaped values), with their Required/Optional qualifiers kept.
_TextFields = typing_extensions.TypedDict(  # type: ignore[misc]
    "_TextFields",
    {
        name: hint
        for name, hint in get_type_hints(ImageEditParamsNonStreaming, include_extras=True).items()
        if name not in _FILE_FIELDS
    },
    total=False,
)


class ImagesForm:
    """A parsed multipart form: text fields, and file parts as (filename, mime, bytes)."""

    def __init__(self, fields: dict[str, Any], files: dict[str, list[tuple[str, str, bytes]]]):
        self.fields = fields
        self.files = files

    @property
    def images(self) -> list[tuple[str, str, bytes]]:
        """The image parts in the order sent (``image[]`` or ``image``)."""
        return self.files.get("image[]", []) + self.files.get("image", [])


def parse_form(content_type: str, body: bytes) -> ImagesForm | None:
    """The multipart form in ``body``, or None when it is not one."""
    if not content_type.startswith("multipart/form-data"):
        return None
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: dict[str, Any] = {}
    files: dict[str, list[tuple[str, str, bytes]]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        decoded = part.get_payload(decode=True)
        payload = decoded if isinstance(decoded, bytes) else b""
        if part.get_filename() is not None:
            files.setdefault(str(name), []).append(
                (part.get_filename() or "", part.get_content_type(), payload)
            )
        else:
            fields[str(name)] = payload.decode()  # text fields are UTF-8
    return ImagesForm(fields, files)


def check_form(form: ImagesForm) -> SpecError | None:
    """The first way the form breaks the SDK's ImageEditParams, or None."""
    body: dict[str, Any] = {}
    for name, value in form.fields.items():
        body[name] = int(value) if name in _INT_FIELDS and value.lstrip("-").isdigit() else value
    unknown = [name for name in form.files if name.removesuffix("[]") not in _FILE_FIELDS]
    if unknown:
        return SpecError(unknown[0], "Unknown parameter", "unknown_parameter")
    if not form.images:
        return SpecError("image", "Missing required parameter", "missing_required_parameter")
    return check_request(body, _TextFields)


def images_answer(form: ImagesForm) -> dict[str, Any]:
    """The ImagesResponse for a valid form: the first image in the requested format."""
    _, mime, data = form.images[0]
    return edit_answer(data, mime, form.fields, len(form.images))


def edit_answer(image: bytes, mime: str, fields: Mapping[str, Any], images: int) -> dict[str, Any]:
    """The ImagesResponse for an edit of ``images`` inputs whose first is ``image``
    (``mime``), with the other parameters in ``fields`` (form strings or JSON values).

    Shared by the multipart route and the Batch API's JSON lines. An image the fake
    cannot see (empty bytes, e.g. an https URL) gives the prompt-coloured fallback.
    """
    data_url = f"data:{mime};base64,{base64.b64encode(image).decode()}"
    tool = {k: v for k, v in fields.items() if k in ("size", "output_format", "background")}
    if fields.get("output_compression") is not None:
        tool["output_compression"] = int(fields["output_compression"])
    prompt = str(fields.get("prompt") or "")
    content = [
        {"type": "input_text", "text": prompt},
        {"type": "input_image", "image_url": data_url},
    ]
    request = {
        "input": [{"role": "user", "content": content}],
        "tools": [{"type": "image_generation", **tool}],
    }
    generated = generated_image(request)
    quality = fields.get("quality") or "auto"
    size = requested_size(tool) or (1024, 1024)
    model = str(fields.get("model") or DEFAULT_IMAGE_MODEL)
    output_tokens = _output_tokens(model, "medium" if quality == "auto" else quality, size)
    text_tokens = (len(prompt) + 3) // 4
    image_tokens = INPUT_IMAGE_TOKENS * images
    return {
        "created": int(time.time()),
        "background": "transparent" if fields.get("background") == "transparent" else "opaque",
        "output_format": fields.get("output_format") or "png",
        "quality": "medium" if quality == "auto" else quality,
        "size": "x".join(map(str, size)),
        "data": [{"b64_json": base64.b64encode(generated).decode()}],
        "usage": {
            "input_tokens": text_tokens + image_tokens,
            "input_tokens_details": {"image_tokens": image_tokens, "text_tokens": text_tokens},
            "output_tokens": output_tokens,
            "output_tokens_details": {"image_tokens": output_tokens, "text_tokens": 0},
            "total_tokens": text_tokens + image_tokens + output_tokens,
        },
    }
