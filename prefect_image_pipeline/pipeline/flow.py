"""The pipeline's ``@flow``: a Prefect flow that joins the background server when called.

Called from Python with no Prefect API configured, Prefect would start a temporary server
for the call; the pipeline's flows use the background one if it is up (never starting
one). Deciding at call time, not at import, keeps importing a flow module free of effects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from prefect import Flow

from prefect_image_pipeline.edges.prefect_server.connect import find_running_server

ResultT = TypeVar("ResultT")


class PipelineFlow(Flow[..., ResultT]):
    """A Flow whose call first joins the background Prefect server, if one is up."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        find_running_server()
        return super().__call__(*args, **kwargs)


def pipeline_flow(name: str) -> Callable[[Callable[..., ResultT]], PipelineFlow[ResultT]]:
    """``@flow(name=..., log_prints=False)`` as a PipelineFlow."""

    def decorate(fn: Callable[..., ResultT]) -> PipelineFlow[ResultT]:
        return PipelineFlow(fn=fn, name=name, log_prints=False)

    return decorate
