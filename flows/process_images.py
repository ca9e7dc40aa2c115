"""The ``process-images`` flow: many images fanned out with a cap on simultaneous OpenAI calls."""

from __future__ import annotations

import shutil
from typing import Any

from prefect import flow

from flows.batch.outcomes import BatchReport
from flows.batch.runner import finish_batch, run_batch
from flows.local_server.connect import find_running_server
from flows.parameters import (
    ConcurrencyParam,
    ImagesParam,
    credential_parameters,
    generation_parameters,
    output_parameters,
    pacing_parameters,
    reference_parameters,
    with_parameters,
)
from flows.pipeline.request import resolve_request
from flows.steps.cleanup import prepare_work_dir

# Called from Python with no Prefect API configured, use the background server if it is up.
find_running_server()


@flow(name="process-images", log_prints=False)
@with_parameters(
    generation_parameters,
    reference_parameters,
    output_parameters,
    pacing_parameters,
    credential_parameters,
)
def process_images(
    images: ImagesParam, concurrency: ConcurrencyParam = 4, **options: Any
) -> BatchReport:
    """Process every image; each ends uploaded or reported with its error."""
    request = resolve_request(options)
    work_dir, created = prepare_work_dir(options["output_dir"])
    try:
        report = run_batch(images, request, work_dir, concurrency, key="process-images")
    finally:
        if created and not request.keep_temp:
            shutil.rmtree(work_dir, ignore_errors=True)
    return finish_batch(report, key="process-images")
