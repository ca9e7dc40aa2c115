"""The ``collect-batches`` flow: publish whatever OpenAI's Batch API has finished.

Scheduled every 10 minutes by the ``collect-batches/every-10-minutes`` deployment, so
images submitted in batch mode are published soon after their batch ends, whoever
submitted them: each batch's ledger entry carries the parameters of the run that
submitted it (prefect_image_pipeline.batch_api.ledger). It submits nothing and pays for nothing.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from prefect_image_pipeline.batch.announcer import Announcer
from prefect_image_pipeline.batch.outcomes import BatchReport
from prefect_image_pipeline.batch.runner import finish_batch
from prefect_image_pipeline.options.parameters import with_parameters
from prefect_image_pipeline.options.run import (
    BatchModeOptions,
    ConcurrencyOptions,
    CredentialOptions,
    RunOptions,
)
from prefect_image_pipeline.pipeline.flow import pipeline_flow
from prefect_image_pipeline.pipeline.request import resolve_request


@pipeline_flow(name="collect-batches")
@with_parameters(ConcurrencyOptions, CredentialOptions)
def collect_batches(**options: Any) -> BatchReport:
    """Download, check and publish every ended batch; each image is reported."""
    from prefect_image_pipeline.batch_api.rounds import collect_now

    # Only the blocks matter here: they say where the ledger is and which key reads it.
    run = RunOptions.from_parameters(options)
    run = replace(run, batch_mode=BatchModeOptions(batch_api=True))
    request = resolve_request(replace(run, output=replace(run.output, s3_prefix="")))
    report = collect_now(request, run.concurrency.concurrency)
    # The images it publishes are announced as events (a callback URL belongs to the run
    # that submitted them, which its next run or --wait honours).
    return finish_batch(report, key="collect-batches", announcer=Announcer(None))
