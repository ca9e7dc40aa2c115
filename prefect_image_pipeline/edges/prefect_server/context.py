"""Which flow run the calling code runs in, as Prefect's run contexts tell it."""

from __future__ import annotations

import uuid


def current_flow_run_id() -> str | None:
    """The flow run of the calling code: its flow run's, or its task run's; else None."""
    from prefect.context import FlowRunContext, TaskRunContext

    flow_context = FlowRunContext.get()
    if flow_context is not None and flow_context.flow_run is not None:
        return str(flow_context.flow_run.id)
    task_context = TaskRunContext.get()
    if flow_context is None and task_context is not None and task_context.task_run.flow_run_id:
        return str(task_context.task_run.flow_run_id)
    return None


def this_run_or_new() -> str:
    """The flow run's id, or a fresh one outside a run (a key that must name one run)."""
    return current_flow_run_id() or uuid.uuid4().hex
