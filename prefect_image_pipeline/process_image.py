"""The ``process-image`` flow: one image through load -> encode -> generate -> upload -> cleanup."""

from __future__ import annotations

from typing import Any

from prefect import flow

from prefect_image_pipeline.batch.outcomes import BatchReport
from prefect_image_pipeline.edges.prefect_server.connect import find_running_server
from prefect_image_pipeline.inputs import parse_input
from prefect_image_pipeline.options.parameters import (
    batch_parameters,
    check_parameters,
    credential_parameters,
    generation_parameters,
    output_parameters,
    pacing_parameters,
    reference_parameters,
    with_parameters,
)
from prefect_image_pipeline.pipeline.reporter import report
from prefect_image_pipeline.pipeline.request import resolve_request
from prefect_image_pipeline.pipeline.run import ProcessedImage, run_pipeline
from prefect_image_pipeline.pipeline.tasks import cleanup_task
from prefect_image_pipeline.steps.cleanup import prepare_work_dir

# Called from Python with no Prefect API configured, use the background server if it is up.
find_running_server()

__all__ = ["ProcessedImage", "process_image"]


@flow(name="process-image", log_prints=False)
@with_parameters(
    generation_parameters,
    reference_parameters,
    output_parameters,
    pacing_parameters,
    batch_parameters,
    check_parameters,
    credential_parameters,
)
def process_image(image: str, **options: Any) -> ProcessedImage | BatchReport:
    """Recreate one image with OpenAI (or offline) and publish it to S3 (or a local folder).

    In batch mode the result is the batch report of its one image (batch_api).
    """
    parse_input(image)  # refuse an unusable input before touching AWS
    request = resolve_request(options, main_input=image)
    if options["batch_api"]:
        from prefect_image_pipeline.batch.runner import finish_batch
        from prefect_image_pipeline.batch_api.rounds import in_batch_mode

        return finish_batch(in_batch_mode([image], request, options, 1), key="process-image")
    work_dir, created = prepare_work_dir(options["output_dir"])
    try:
        return run_pipeline(image, request, work_dir, say=report)
    finally:
        if created and not request.keep_temp:
            cleanup_task([str(work_dir)])
