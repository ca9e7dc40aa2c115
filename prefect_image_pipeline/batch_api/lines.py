"""One JSONL line per image: the request OpenAI's Batch API runs for it.

``custom_id`` is a hash of everything that decides the answer (the input's bytes, the
options, the references, the mask, the endpoint), computed the same way when a line is
written and when its answer is looked up, so answers are matched by content, never by
position: OpenAI does not keep the order of the input file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from prefect_image_pipeline.options.generation import GenerationOptions
from prefect_image_pipeline.steps.encode import EncodedImage
from prefect_image_pipeline.steps.generate import responses_arguments
from prefect_image_pipeline.steps.images_api import edit_fields
from prefect_image_pipeline.steps.references import ReferenceImage

Endpoint = Literal["/v1/images/edits", "/v1/responses"]
# OpenAI's limits per input file (the SDK's BatchCreateParams.input_file_id docs).
MAX_LINES_PER_FILE = 50_000
MAX_BYTES_PER_FILE = 200 * 1024 * 1024


def endpoint_for(api: str) -> Endpoint:
    """The Batch endpoint of a run's ``api``: the Images API unless responses was asked for."""
    return "/v1/responses" if api == "responses" else "/v1/images/edits"


def request_id(
    image: EncodedImage,
    options: GenerationOptions,
    references: Sequence[ReferenceImage],
    mask: ReferenceImage | None,
    endpoint: str,
) -> str:
    """The line's ``custom_id``: the same request always gets the same id."""
    payload = json.dumps(
        [
            image.sha256,
            *options.fingerprint(),
            [ref.cache_key for ref in references],
            mask.cache_key if mask else None,
            endpoint,
        ],
        sort_keys=True,
        default=str,
    )
    return "img-" + hashlib.sha256(payload.encode()).hexdigest()[:40]


def edits_body(
    image: EncodedImage,
    options: GenerationOptions,
    references: Sequence[ReferenceImage] = (),
    mask: ReferenceImage | None = None,
) -> dict[str, Any]:
    """The JSON form of ``images.edit`` (``images: [{"image_url"} | {"file_id"}]``).

    A batch line cannot carry multipart parts, so images go as data URLs or as OpenAI
    file ids; URL references must be fetched first (steps.references.inline_urls).
    """
    body: dict[str, Any] = {
        **edit_fields(options),
        "images": [{"image_url": image.data_url}, *(ref.mask() for ref in references)],
    }
    if mask is not None:
        body["mask"] = mask.mask()
    return body


@dataclass(frozen=True)
class BatchLine:
    """One request of a batch and the input it stands for."""

    custom_id: str
    input: str
    text: str  # the JSONL line, without its newline

    @property
    def size(self) -> int:
        """Bytes this line adds to the input file (with its newline)."""
        return len(self.text.encode()) + 1


def batch_line(
    custom_id: str,
    source: str,
    endpoint: Endpoint,
    image: EncodedImage,
    options: GenerationOptions,
    references: Sequence[ReferenceImage],
    mask: ReferenceImage | None,
) -> BatchLine:
    """The line for one image on ``endpoint``."""
    if endpoint == "/v1/responses":
        body = responses_arguments(image, options, references, mask)
    else:
        body = edits_body(image, options, references, mask)
    line = {"custom_id": custom_id, "method": "POST", "url": endpoint, "body": body}
    return BatchLine(custom_id, source, json.dumps(line, separators=(",", ":")))
