"""Each image's outcome and each run's end as Prefect events, for automations to act on.

``image-pipeline.image.published`` / ``.failed`` (and ``.flagged`` besides either) name the
published object (``s3://bucket/key``) as their resource, or the source when nothing was
published; ``image-pipeline.batch.finished`` names the run (``image-pipeline.run.<id>``).
Each relates the source (role ``source``) and the flow run (role ``flow-run``); the payload
is the notice's (announce.notice). Emitting never fails a run: with no Prefect API there is
nothing to tell, and Prefect's events worker sends in the background.
"""

from __future__ import annotations

import contextvars
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect_image_pipeline.announce.names import (
    BATCH_FINISHED_EVENT,
    IMAGE_FAILED_EVENT,
    IMAGE_FLAGGED_EVENT,
    IMAGE_PUBLISHED_EVENT,
)
from prefect_image_pipeline.announce.notice import ImageNotice, RunNotice
from prefect_image_pipeline.edges.prefect_server.context import current_flow_run_id
from prefect_image_pipeline.inputs import input_label, parse_input, parse_s3_uri
from prefect_image_pipeline.urls import redact_url

if TYPE_CHECKING:
    from prefect.events import Event

_LOG = logging.getLogger(__name__)


def source_resource_id(input: str) -> str:
    """The source as a resource id: a URL or ``s3://`` URI as given, a path as ``file://``."""
    try:
        parsed = parse_input(input)
    except ValueError:  # an input no step could load still failed as itself
        return input.strip() or "image-pipeline.source.unknown"
    if parsed.kind == "file":
        return Path(parsed.location).as_uri()
    return redact_url(parsed.location)  # stored and shown: no password, no signature


def emit_image_events(notice: ImageNotice) -> None:
    """Published or failed, and flagged too when a check did not pass."""
    source = source_resource_id(notice.input)
    if notice.s3_url:
        resource = {"prefect.resource.id": notice.s3_url, "prefect.resource.name": _key(notice)}
    else:
        resource = {
            "prefect.resource.id": source,
            "prefect.resource.name": input_label(notice.input),
        }
    related = [{"prefect.resource.id": source, "prefect.resource.role": "source"}]
    related += _flow_run_related(notice.flow_run_id)
    payload = redacted_payload(notice.payload())
    names = [IMAGE_PUBLISHED_EVENT if notice.status == "published" else IMAGE_FAILED_EVENT]
    if notice.flagged:
        names.append(IMAGE_FLAGGED_EVENT)
    for name in names:
        _emit(name, resource, related, payload)


def redacted_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with every URL it names redacted (the callback gets them as given)."""
    options = dict(payload["options"])
    if options.get("reference_images"):
        options["reference_images"] = [redact_url(r) for r in options["reference_images"]]
    if options.get("mask"):
        options["mask"] = redact_url(options["mask"])
    return {**payload, "input": redact_url(payload["input"]), "options": options}


def emit_run_finished(notice: RunNotice) -> None:
    """The run's end: its counts and cost."""
    resource = {"prefect.resource.id": f"image-pipeline.run.{notice.flow_run_id or 'unknown'}"}
    _emit(BATCH_FINISHED_EVENT, resource, _flow_run_related(notice.flow_run_id), notice.payload())


def _key(notice: ImageNotice) -> str:
    """The published object's key (the whole URL if it is not a usable ``s3://`` URI)."""
    try:
        return parse_s3_uri(notice.s3_url or "")[1]
    except ValueError:
        return notice.s3_url or ""


def _flow_run_related(flow_run_id: str | None) -> list[dict[str, str]]:
    """The flow run as a related resource, unless Prefect attaches it itself.

    Prefect's events worker relates the run of the emitting context (flow run with its
    name, flow, deployment and tags; prefect.events.related) and skips any id the event
    already names. So name the run only when the context is another run or none: emitted
    after the run ended, or for a run this code is not inside.
    """
    if flow_run_id is None or current_flow_run_id() == flow_run_id:
        return []
    return [
        {
            "prefect.resource.id": f"prefect.flow-run.{flow_run_id}",
            "prefect.resource.role": "flow-run",
        }
    ]


def _emit(
    name: str, resource: dict[str, str], related: list[dict[str, str]], payload: dict[str, Any]
) -> None:
    """emit_event, when a Prefect API is there to hear it; never raises."""
    from prefect.exceptions import EventTooLarge
    from prefect.settings import PREFECT_API_URL

    # Without an API URL, emit_event would start a temporary server of its own just to
    # receive this event and lose it at exit; inside a run, the run's server is up.
    if not PREFECT_API_URL.value() and current_flow_run_id() is None:
        _LOG.debug("No Prefect API configured: %s not emitted", name)
        return
    try:
        sent = contextvars.copy_context().run(_send, name, resource, related, payload)
    except EventTooLarge as too_large:
        _LOG.warning("%s for %s not emitted: %s", name, resource["prefect.resource.id"], too_large)
        return
    if sent is None:  # emit_event logs its own errors; None when events are off too
        _LOG.debug("%s for %s not emitted", name, resource["prefect.resource.id"])


def _send(
    name: str, resource: dict[str, str], related: list[dict[str, str]], payload: dict[str, Any]
) -> Event | None:
    """emit_event with the run context stated, even when there is none (run in a copy).

    Prefect's events worker relates the runs of the context an event is sent from by laying
    that context over the one the worker started in: a run variable this context never set
    would show the run the worker started inside (Prefect 3.9.1), e.g. a run that ended.
    """
    from prefect.context import FlowRunContext, TaskRunContext
    from prefect.events import emit_event

    for context in (FlowRunContext, TaskRunContext):
        variable: contextvars.ContextVar[Any] = context.__var__
        variable.set(context.get())  # None when outside such a run
    return emit_event(event=name, resource=resource, related=related, payload=payload)
