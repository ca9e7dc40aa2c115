"""The ``process-images`` flow: many images fanned out with a cap on simultaneous OpenAI calls."""

from __future__ import annotations

import shutil
from typing import Any

from prefect import flow

from prefect_image_pipeline.batch.chunks import (
    DEFAULT_CHUNK_DEPLOYMENT,
    ChunkRef,
    require_cache_block,
    run_chunks,
    save_chunk_report,
)
from prefect_image_pipeline.batch.outcomes import BatchReport
from prefect_image_pipeline.batch.runner import finish_batch, run_batch, unique_inputs
from prefect_image_pipeline.edges.prefect_server.connect import find_running_server
from prefect_image_pipeline.options.parameters import (
    ChunkSize,
    ConcurrencyParam,
    ImagesParam,
    batch_parameters,
    check_parameters,
    credential_parameters,
    generation_parameters,
    output_parameters,
    pacing_parameters,
    reference_parameters,
    report_parameters,
    with_parameters,
)
from prefect_image_pipeline.pipeline.request import resolve_request
from prefect_image_pipeline.review.publish import review_if_asked
from prefect_image_pipeline.steps.cleanup import prepare_work_dir

# Called from Python with no Prefect API configured, use the background server if it is up.
find_running_server()


@flow(name="process-images", log_prints=False)
@with_parameters(
    generation_parameters,
    reference_parameters,
    output_parameters,
    pacing_parameters,
    batch_parameters,
    check_parameters,
    report_parameters,
    credential_parameters,
)
def process_images(
    images: ImagesParam,
    concurrency: ConcurrencyParam = 4,
    chunk_size: ChunkSize | None = None,
    chunk_deployment: str = DEFAULT_CHUNK_DEPLOYMENT,
    chunk_of: str | None = None,
    **options: Any,
) -> BatchReport:
    """Process every image; each ends uploaded or reported with its error."""
    chunk = ChunkRef.parse(chunk_of) if chunk_of else None
    request = resolve_request(
        options,
        pacing_key=chunk.parent if chunk else None,  # children share one rate
    )
    inputs = unique_inputs(images)
    if options[
        "batch_api"
    ]:  # OpenAI runs the work: no chunks needed (prefect_image_pipeline.batch_api)
        from prefect_image_pipeline.batch_api.rounds import in_batch_mode

        report = in_batch_mode(inputs, request, options, concurrency)
        review_if_asked(report, options["report_key"], request.store)
        return finish_batch(report, key="process-images")
    if chunk_size and len(inputs) > chunk_size and chunk is None:
        cache_block = require_cache_block(request.cache_block)
        parameters = {**options, "concurrency": concurrency, "cache_block": cache_block}
        parameters["report_key"] = None  # the parent writes the one review page
        report = run_chunks(inputs, parameters, chunk_size, chunk_deployment, cache_block)
        review_if_asked(report, options["report_key"], request.store)
        return finish_batch(report, key="process-images")
    work_dir, created = prepare_work_dir(options["output_dir"])
    try:
        report = run_batch(images, request, work_dir, concurrency, key="process-images")
    finally:
        if created and not request.keep_temp:
            shutil.rmtree(work_dir, ignore_errors=True)
    if chunk is not None:
        save_chunk_report(report, chunk, require_cache_block(request.cache_block))
    else:
        review_if_asked(report, options["report_key"], request.store)
    return finish_batch(report, key="process-images")
