"""A batch's jobs: each image with the request its own options make, all checked up front.

Rows of the ``images`` parameter (strings or ``ImageJob`` objects, options.jobs) become
``Job``s: the input, the options the row set, and the request those make over the run's.
Every row is checked before the first image is touched, and a bad one is refused naming
its position and input. Rows setting the same options share one request; a row's own
references and mask are fetched once per distinct set.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from prefect_image_pipeline.errors import ImagePipelineError, InvalidOptionsError
from prefect_image_pipeline.inputs import parse_input
from prefect_image_pipeline.options.jobs import (
    JobBase,
    JobRow,
    Row,
    as_job,
    for_job,
    job_key,
    options_key,
    row_of,
)
from prefect_image_pipeline.options.run import RunOptions
from prefect_image_pipeline.pipeline.request import PipelineRequest
from prefect_image_pipeline.spending.limits import check_cap
from prefect_image_pipeline.steps.alias import alias_base, check_alias
from prefect_image_pipeline.steps.encode import sha256_hex
from prefect_image_pipeline.steps.references import prepare_mask, prepare_references
from prefect_image_pipeline.steps.upload import output_stem

T = TypeVar("T")


@dataclass(frozen=True)
class Job:
    """One image of a batch and the request it runs with."""

    input: str
    request: PipelineRequest
    options: dict[str, Any] = field(default_factory=dict)  # what its row set, by name


def unique_inputs(images: Sequence[str]) -> list[str]:
    """Inputs stripped, blanks dropped, duplicates kept once (first position wins)."""
    return list(dict.fromkeys(image.strip() for image in images if image.strip()))


def plain_jobs(inputs: Sequence[str], request: PipelineRequest) -> list[Job]:
    """Inputs that set nothing of their own: one job each, duplicates once."""
    return [Job(input=image, request=request) for image in unique_inputs(inputs)]


def plan_jobs(rows: Sequence[JobRow], run: RunOptions, base: PipelineRequest) -> list[Job]:
    """Every row as a job (duplicates once), each row's options checked; raises
    InvalidOptionsError naming the row (``images[2] (photo.jpg)``) for the first bad one."""
    jobs: dict[tuple[str, str], Job] = {}
    made: dict[str, PipelineRequest] = {options_key({}): base}  # rows setting nothing
    for position, row in enumerate(rows):
        job = as_job(row)
        key = job_key(job.input, job.own_options())
        if not key[0] or key in jobs:
            continue
        try:
            if key[1] not in made:
                made[key[1]] = request_for(job, run, base)
        except ImagePipelineError as exc:
            raise InvalidOptionsError(f"images[{position}] ({job.input}): {exc}") from None
        jobs[key] = Job(input=key[0], request=made[key[1]], options=job.own_options())
    _refuse_shared_aliases(list(jobs.values()))
    return list(jobs.values())


def _refuse_shared_aliases(jobs: list[Job]) -> None:
    """Two jobs publishing under one alias key would overwrite each other's, run by run."""
    claimed: dict[str, str] = {}
    for job in jobs:
        alias = job.request.publish.alias
        if alias is None:
            continue
        key = alias_base(alias, output_stem(parse_input(job.input).name))
        if key in claimed:
            raise InvalidOptionsError(
                f"{claimed[key]} and {job.input} would both be published under the alias "
                f"{key!r}: give each row an alias of its own"
            )
        claimed[key] = job.input


def check_job(job: JobBase, run: RunOptions) -> RunOptions:
    """The run's options with the job's over them, refused (as the flow would) if they
    cannot work; its generation options as checked (the size as sent)."""
    options = for_job(run, job)
    options = replace(options, generation=options.generation.check())
    if "alias" in job.own_options():  # the row's own alias is its image's alone
        check_alias(options.publish.alias, 1)
    return options


def request_for(job: JobBase, run: RunOptions, base: PipelineRequest) -> PipelineRequest:
    """The base request with what the job sets over it (no new client, no new check of
    credentials: only what an image's own options change)."""
    own = job.own_options()
    if not own:
        return base
    options = check_job(job, run)
    references, mask = base.references, base.mask
    if "reference_images" in own:
        references = prepare_references(
            options.references.reference_images or [], "", base.store.s3_client
        )
    if "mask" in own and options.references.mask:
        mask = prepare_mask(options.references.mask, base.store.s3_client)
    if base.generator.limits is not None:  # a dearer row under the run's --max-cost
        check_cap(options.generation, base.generator.limits)
    return replace(
        base,
        options=options.generation,
        s3_prefix=options.output.s3_prefix,
        references=references,
        mask=mask,
        strict_checks=options.checks.strict_checks,
        publish=options.publish,
        output_tag=sha256_hex(options_key(own).encode())[:8],
    )


def in_row_order(rows: Sequence[JobRow], jobs: Sequence[Job], results: Sequence[T]) -> list[T]:
    """``results`` (one per job) in the rows' order, a duplicate row's result again."""
    by_key = {job_key(j.input, j.options): r for j, r in zip(jobs, results, strict=True)}
    keys = [job_key(job.input, job.own_options()) for job in map(as_job, rows)]
    return [by_key[key] for key in keys if key[0]]


def refuse_own_options(jobs: Sequence[Job], mode: str) -> None:
    """Refuse rows with options of their own where ``mode`` sends one request for all."""
    own = [j for j in jobs if j.options]
    if own:
        raise InvalidOptionsError(
            f"{mode} sends every image with the run's options, but {own[0].input} sets "
            f"{', '.join(own[0].options)} of its own: run those rows without {mode}, or move "
            "their options to the run"
        )


def rows_of(jobs: Sequence[Job]) -> list[Row]:
    """The jobs as ``images`` rows again (a chunk's child run takes them)."""
    return [row_of(job.input, job.options) for job in jobs]


def options_label(options: dict[str, Any]) -> str:
    """A row's own options in one line, for reports: ``prompt='…', quality=high``."""
    return ", ".join(
        f"{k}={json.dumps(v) if not isinstance(v, str) or k == 'prompt' else v}"
        for k, v in options.items()
    )
