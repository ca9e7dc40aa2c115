"""A generator that answers from a collected batch instead of calling OpenAI.

Collection writes each answered line's body to ``<answers>/<custom_id>.json``; the normal
pipeline then runs with this generator, so the generate task fills the cache under the
very key an interactive run uses (the key never names the generator, only what was
asked). A request with no answer is refused, never sent: batch mode pays at most once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from openai.types import ImagesResponse
from openai.types.responses import Response

from prefect_image_pipeline.batch_api.lines import endpoint_for, request_id
from prefect_image_pipeline.errors import ImageGenerationError
from prefect_image_pipeline.options.generation import GenerationOptions
from prefect_image_pipeline.steps.encode import EncodedImage
from prefect_image_pipeline.steps.generate import GeneratedImage, parse_response
from prefect_image_pipeline.steps.images_api import parse_images_response
from prefect_image_pipeline.steps.references import ReferenceImage

GENERATOR_NAME = "openai-batch"


def answer_path(answers: Path, custom_id: str) -> Path:
    """Where collection keeps one line's answer body."""
    return answers / f"{custom_id}.json"


@dataclass(frozen=True)
class BatchAnswers:
    """The answers collected into a folder, handed to the pipeline's generator target."""

    folder: Path

    def open(self) -> BatchAnswerGenerator:
        """A generator answering from this folder."""
        return BatchAnswerGenerator(self.folder)


class BatchAnswerGenerator:
    """Looks the request up among the collected answers; never sends anything."""

    def __init__(self, answers: Path) -> None:
        self._answers = answers

    @property
    def name(self) -> str:
        return GENERATOR_NAME

    def generate(
        self,
        image: EncodedImage,
        options: GenerationOptions,
        references: Sequence[ReferenceImage] = (),
        mask: ReferenceImage | None = None,
    ) -> GeneratedImage:
        endpoint = endpoint_for(options.api)
        custom_id = request_id(image, options, references, mask, endpoint)
        path = answer_path(self._answers, custom_id)
        if not path.exists():
            raise ImageGenerationError(
                f"OpenAI's Batch API has not answered this image yet (request {custom_id}); "
                "run again in batch mode to submit or collect it"
            )
        body = json.loads(path.read_text(encoding="utf-8"))
        if endpoint == "/v1/responses":
            return parse_response(Response.model_validate(body), self.name)
        return parse_images_response(ImagesResponse.model_validate(body), self.name)

    def warm_up(self) -> None:
        """Nothing to warm: no client, no request."""
