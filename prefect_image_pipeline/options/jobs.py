"""Per-image jobs: an image with options of its own, over the run's (``--jobs``, ``images``).

A job is ``{"input": ..., "prompt": ..., "s3_prefix": ...}``: the input, plus any option
marked ``per_image`` (options.fields) by its flow-parameter name. ``ImageJob`` is made from
those definitions, so a new per-image option is a jobs column with no edit here, and the
flows' ``images`` parameter takes these objects beside plain strings (the UI form still
takes strings). Unknown keys and bad values are refused by pydantic, naming the key.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Optional

from pydantic import BaseModel, ConfigDict, Field, create_model

from prefect_image_pipeline.options.fields import Option, options_of
from prefect_image_pipeline.options.run import RunOptions, option_groups


def per_image_options() -> list[Option]:
    """The options a job may set for its own image, in declaration order."""
    return [o for g in option_groups().values() for o in options_of(g) if o.spec.per_image]


class JobBase(BaseModel):
    """An image and the options it sets (the rest are the run's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: str = Field(min_length=1, description="Image URL (http/https), s3:// URI or path.")

    def own_options(self) -> dict[str, Any]:
        """The options this job sets, by flow-parameter name (None: the run's)."""
        return {k: v for k, v in self.model_dump(exclude={"input"}).items() if v is not None}


if TYPE_CHECKING:
    ImageJob = JobBase
else:  # one field per per-image option, typed and described by its one definition
    ImageJob = create_model(
        "ImageJob",
        __base__=JobBase,
        __doc__="An image with options of its own; empty ones are the run's.",
        **{
            o.name: (Optional[o.annotation], Field(default=None, description=o.spec.description))  # noqa: UP045 - a runtime type, not an annotation
            for o in per_image_options()
        },
    )

JobRow = str | ImageJob
# A row as JSON carries it (a child run's parameter, a report, --redo-flagged): an input,
# or an object with the input and the options the row set.
Row = str | dict[str, Any]


def row_of(image: str, own: Mapping[str, Any]) -> Row:
    """An input and its own options as a row: a plain string when it sets nothing."""
    return {"input": image, **own} if own else image


def as_job(row: JobRow | Mapping[str, Any]) -> JobBase:
    """A row of the ``images`` parameter as a job; a plain string sets no options."""
    if isinstance(row, JobBase):
        return row
    if isinstance(row, str):
        return ImageJob(input=row.strip())
    return ImageJob.model_validate(row)


def job_key(image: str, own: Mapping[str, Any]) -> tuple[str, str]:
    """Two rows (or their outcomes) are the same job when input and own options are: the
    second runs once, and is told and counted once."""
    return image.strip(), options_key(own)


def options_key(options: Mapping[str, Any]) -> str:
    """A job's own options as one comparable string."""
    return json.dumps(options, sort_keys=True, default=str)


def as_row(job: JobBase) -> Row:
    """The job as the ``images`` parameter takes it: a string when it sets nothing."""
    return row_of(job.input, job.own_options())


def for_job(run: RunOptions, job: JobBase) -> RunOptions:
    """The run's options with the job's own over them."""
    own = job.own_options()
    return RunOptions.from_parameters({**run.to_parameters(), **own}) if own else run


def unknown_column_hint(name: str) -> str:
    """What to write instead of ``name``: the closest per-image option, or the list."""
    names = [o.name for o in per_image_options()]
    close = difflib.get_close_matches(name, ["input", *names], n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    return "a job sets input and any of: " + ", ".join(names)
