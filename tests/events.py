"""Reading events back from a Prefect server, once it has stored what was sent."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from prefect.events.worker import EventsWorker

Events = list[dict[str, Any]]


def stored_events(
    api: str, event_filter: dict[str, Any], done: Callable[[Events], bool], timeout: float = 20
) -> Events:
    """The events matching ``event_filter`` (POST /events/filter) once ``done`` says they
    are all there, or what is there after ``timeout`` s: the server stores the events it
    received in batches, seconds later."""
    EventsWorker.drain_all()
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.post(f"{api}/events/filter", json={"filter": event_filter, "limit": 50})
        events: Events = response.raise_for_status().json()["events"]
        if done(events) or time.monotonic() > deadline:
            return events
        time.sleep(0.1)
