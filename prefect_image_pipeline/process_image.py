"""The ``process-image`` flow: one image through load -> encode -> generate -> upload -> cleanup."""

from __future__ import annotations

from typing import Any

from prefect_image_pipeline.batch.announcer import Announcer
from prefect_image_pipeline.batch.estimate import RunEstimate, estimate_and_report
from prefect_image_pipeline.batch.outcomes import BatchReport, ImageOutcome, failed_outcome
from prefect_image_pipeline.inputs import parse_input
from prefect_image_pipeline.options.generation import GenerationOptions
from prefect_image_pipeline.options.parameters import ImageParam, with_parameters
from prefect_image_pipeline.options.run import (
    BatchModeOptions,
    CheckOptions,
    CredentialOptions,
    NotifyOptions,
    OutputOptions,
    PacingOptions,
    PublishOptions,
    ReferenceOptions,
    RunOptions,
    SpendOptions,
)
from prefect_image_pipeline.pipeline.cdn import refresh_cdn
from prefect_image_pipeline.pipeline.flow import pipeline_flow
from prefect_image_pipeline.pipeline.jobs import plain_jobs
from prefect_image_pipeline.pipeline.reporter import report
from prefect_image_pipeline.pipeline.request import resolve_request
from prefect_image_pipeline.pipeline.run import ProcessedImage, run_pipeline
from prefect_image_pipeline.steps.alias import check_alias
from prefect_image_pipeline.steps.cleanup import prepare_work_dir

__all__ = ["ProcessedImage", "process_image"]


@pipeline_flow(name="process-image")
@with_parameters(
    GenerationOptions,
    ReferenceOptions,
    OutputOptions,
    PublishOptions,
    PacingOptions,
    BatchModeOptions,
    CheckOptions,
    SpendOptions,
    NotifyOptions,
    CredentialOptions,
)
def process_image(image: ImageParam, **options: Any) -> ProcessedImage | BatchReport | RunEstimate:
    """Recreate one image with OpenAI (or offline) and publish it to S3 (or a local folder).

    In batch mode the result is the batch report of its one image (batch_api); with
    ``estimate_only``, what it would cost (batch.estimate).
    """
    parse_input(image)  # refuse an unusable input before touching AWS
    run = RunOptions.from_parameters(options)
    check_alias(run.publish.alias, image_count=1)
    request = resolve_request(run, main_input=image)
    if run.spend.estimate_only:
        return estimate_and_report(plain_jobs([image], request))
    announcer = Announcer(run.notify.callback_url)
    if run.batch_mode.batch_api:
        from prefect_image_pipeline.batch.runner import finish_batch
        from prefect_image_pipeline.batch_api.rounds import in_batch_mode

        batch = in_batch_mode([image], request, run, 1)
        return finish_batch(batch, key="process-image", announcer=announcer)
    work_dir, created = prepare_work_dir(run.output.output_dir)
    try:
        result = run_pipeline(
            image, request, work_dir, say=report, remove_work_dir=created, artifact=True
        )
    except Exception as exc:
        announcer.finished(BatchReport(outcomes=[failed_outcome(image, exc)]))
        raise
    refresh_cdn([result.alias])
    announcer.finished(BatchReport(outcomes=[ImageOutcome.uploaded(result)]))
    return result
