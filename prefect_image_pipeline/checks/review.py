"""One output's review: its checks and the two thumbnails a person looks at.

Made in the pipeline right after generation (pipeline.run), while the input is
still on disk, and carried by the image's outcome into the artifacts and reports; with
``--strict-checks`` a flagged output stops there (``FlaggedOutputError``): not uploaded,
reported with its flags and its cost.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from prefect_image_pipeline.checks.output_checks import (
    OutputChecks,
    check_images,
    configured_thresholds,
    decode,
)
from prefect_image_pipeline.checks.thumbnails import thumbnail_of
from prefect_image_pipeline.options.generation import GenerationOptions
from prefect_image_pipeline.pricing import CostEstimate


class Review(BaseModel):
    """What a reviewer needs of one output: checks, source and result thumbnails."""

    checks: OutputChecks
    # Small previews (checks.thumbnails), shown on purpose in the artifacts and the
    # page; kept out of reprs so no log line or error ever carries image data.
    source_thumbnail: str | None = Field(default=None, repr=False)
    result_thumbnail: str | None = Field(default=None, repr=False)

    @property
    def flagged(self) -> bool:
        """Whether some check flagged the output."""
        return bool(self.checks.flags)


def review_output(source_path: str, output: bytes, options: GenerationOptions) -> Review:
    """Check ``output`` against the input at ``source_path`` and make both thumbnails."""
    original, result = decode(Path(source_path).read_bytes()), decode(output)
    return Review(
        checks=check_images(original, result, output, options, configured_thresholds()),
        source_thumbnail=thumbnail_of(original),
        result_thumbnail=thumbnail_of(result),
    )


class FlaggedOutputError(Exception):
    """--strict-checks: an output some check flagged; nothing was uploaded."""

    def __init__(self, image: str, review: Review, cost: CostEstimate | None) -> None:
        super().__init__(
            f"{image}: the output was flagged ({review.checks.describe()}); not uploaded "
            "(--strict-checks). Run it again with a better prompt or options "
            "(--redo-flagged), or without --strict-checks"
        )
        self.review, self.cost = review, cost
