"""The ``collect-batches`` flow: publish whatever OpenAI's Batch API has finished.

Scheduled every 10 minutes by the ``collect-batches/every-10-minutes`` deployment, so
images submitted in batch mode are published soon after their batch ends, whoever
submitted them: each batch's ledger entry carries the parameters of the run that
submitted it (prefect_image_pipeline.batch_api.ledger). It submits nothing and pays for nothing.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from prefect_image_pipeline.batch.outcomes import BatchReport
from prefect_image_pipeline.batch.runner import finish_batch
from prefect_image_pipeline.edges.prefect_server.connect import find_running_server
from prefect_image_pipeline.options.parameters import (
    ConcurrencyParam,
    credential_parameters,
    with_parameters,
)
from prefect_image_pipeline.pipeline.request import resolve_request

# Called from Python with no Prefect API configured, use the background server if it is up.
find_running_server()


@flow(name="collect-batches", log_prints=False)
@with_parameters(credential_parameters)
def collect_batches(concurrency: ConcurrencyParam = 4, **options: Any) -> BatchReport:
    """Download, check and publish every ended batch; each image is reported."""
    from prefect_image_pipeline.batch_api.rounds import collect_now

    # Only the blocks matter here: they say where the ledger is and which key reads it.
    request = resolve_request({"s3_prefix": "", "batch_api": True, **options})
    return finish_batch(collect_now(request, concurrency), key="collect-batches")
