"""Prefect events per image and per run, read back from the session's Prefect server, and
the documented automation (deployments/automations.py) calling a loopback webhook when an
image fails: the server's triggers and actions services do the calling.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.events.worker import EventsWorker
from prefect.runtime import flow_run
from prefect.settings import PREFECT_API_URL, temporary_settings

from deployments.automations import main as apply_automation
from prefect_image_pipeline.announce.events import (
    emit_image_events,
    emit_run_finished,
    redacted_payload,
    source_resource_id,
)
from prefect_image_pipeline.announce.names import (
    BATCH_FINISHED_EVENT,
    IMAGE_FAILED_EVENT,
    IMAGE_FLAGGED_EVENT,
    IMAGE_PUBLISHED_EVENT,
)
from prefect_image_pipeline.announce.notice import CheckNotice, ImageNotice, RunNotice
from tests.events import stored_events
from tests.fakes.webhook_receiver import ReceivedPost, WebhookReceiver


def _read_events(api: str, name: str, resource_id: str, count: int = 1) -> list[dict[str, Any]]:
    """The events ``name`` of ``resource_id`` once the server has stored ``count`` of them."""
    event_filter = {"event": {"name": [name]}, "resource": {"id": [resource_id]}}
    return stored_events(api, event_filter, lambda events: len(events) >= count)


def _related(event: dict[str, Any], role: str) -> list[str]:
    """The ids of the event's related resources in ``role``."""
    return [
        r["prefect.resource.id"] for r in event["related"] if r["prefect.resource.role"] == role
    ]


@flow
def _announce(notice: ImageNotice) -> str:
    """Emit ``notice``'s events from inside a flow run, as the pipeline does; the run's id."""
    run_id = str(flow_run.id)
    emit_image_events(replace(notice, flow_run_id=run_id))
    return run_id


@flow
def _nothing() -> str:
    """A run that ends, for an event emitted after it."""
    return str(flow_run.id)


@dataclass(frozen=True)
class Emitted:
    """What the module's events were about: read back by each test."""

    published: ImageNotice
    failed: ImageNotice
    finished: RunNotice


@pytest.fixture(scope="module")
def emitted(prefect_api_url: str, tmp_path_factory: pytest.TempPathFactory) -> Emitted:
    """Every event of the tests below, emitted at once: the server stores the events it
    receives every 5 s (its event persister's flush interval), so they wait for it once."""
    checks = (CheckNotice("size", True, "1024x1024"), CheckNotice("alpha", False, "opaque"))
    published = ImageNotice(
        input=str(tmp_path_factory.mktemp("in") / "cat.png"),
        status="published",
        s3_url=f"s3://artifacts/outputs/{uuid.uuid4().hex}/cat.png",
        cost_usd=0.042,
        checks=checks,
        options={"quality": "high"},
    )
    url = f"https://images.example.com/{uuid.uuid4().hex}/dog.png"
    failed = ImageNotice(input=url, status="failed", error=f"the image is 0 bytes: {url}")
    published = replace(published, flow_run_id=_announce(published))
    failed = replace(failed, flow_run_id=_announce(failed))
    # Emitted after its run ended: no run context to relate the run, so the event names it.
    finished = RunNotice(
        _nothing(), published=3, failed=1, flagged=1, cost_usd=0.12, summary="3 of 4"
    )
    emit_run_finished(finished)
    return Emitted(published, failed, finished)


@pytest.mark.slow  # over ~3 s: full lane only (the server stores events every 5 s)
def test_a_published_flagged_image_emits_both_events_on_its_output(
    prefect_api_url: str, emitted: Emitted
) -> None:
    notice = emitted.published
    assert notice.s3_url is not None
    for name in (IMAGE_PUBLISHED_EVENT, IMAGE_FLAGGED_EVENT):
        (event,) = _read_events(prefect_api_url, name, notice.s3_url)
        assert event["resource"]["prefect.resource.name"] == notice.s3_url.split("/", 3)[3]
        assert _related(event, "source") == [Path(notice.input).as_uri()]
        # Prefect relates the emitting run itself (with its flow); named once, not twice.
        assert _related(event, "flow-run") == [f"prefect.flow-run.{notice.flow_run_id}"]
        assert _related(event, "flow")
        payload = event["payload"]
        assert payload["cost_usd"] == pytest.approx(0.042)
        assert payload["flagged"] is True and payload["flow_run_id"] == notice.flow_run_id
        assert [c["name"] for c in payload["checks"] if not c["passed"]] == ["alpha"]
        assert payload["options"] == {"quality": "high"} and payload["error"] is None
    assert _read_events(prefect_api_url, IMAGE_FAILED_EVENT, notice.s3_url, 0) == []


@pytest.mark.slow  # over ~3 s: full lane only (the server stores events every 5 s)
def test_a_failed_image_with_no_output_emits_on_its_source(
    prefect_api_url: str, emitted: Emitted
) -> None:
    notice = emitted.failed
    (event,) = _read_events(prefect_api_url, IMAGE_FAILED_EVENT, notice.input)
    assert event["resource"]["prefect.resource.name"] == "dog.png"
    assert _related(event, "source") == [notice.input]
    assert _related(event, "flow-run") == [f"prefect.flow-run.{notice.flow_run_id}"]
    assert event["payload"]["error"] == notice.error and event["payload"]["cost_usd"] is None
    assert _read_events(prefect_api_url, IMAGE_PUBLISHED_EVENT, notice.input, 0) == []
    assert _read_events(prefect_api_url, IMAGE_FLAGGED_EVENT, notice.input, 0) == []


@pytest.mark.slow  # over ~3 s: full lane only (the server stores events every 5 s)
def test_the_run_finished_event_names_its_run(prefect_api_url: str, emitted: Emitted) -> None:
    run_id = emitted.finished.flow_run_id
    (event,) = _read_events(prefect_api_url, BATCH_FINISHED_EVENT, f"image-pipeline.run.{run_id}")
    assert _related(event, "flow-run") == [f"prefect.flow-run.{run_id}"]
    assert event["payload"] == {
        "status": "finished",
        "flow_run_id": run_id,
        "published": 3,
        "failed": 1,
        "flagged": 1,
        "cost_usd": 0.12,
        "summary": "3 of 4",
    }


def test_sources_as_resource_ids(tmp_path: Path) -> None:
    assert source_resource_id("s3://in/a b.png") == "s3://in/a b.png"
    assert source_resource_id("https://x.example/a.png?v=1") == "https://x.example/a.png?v=1"
    assert source_resource_id(str(tmp_path / "a.png")) == (tmp_path / "a.png").as_uri()
    assert source_resource_id("") == "image-pipeline.source.unknown"


def test_events_carry_no_url_password_or_signature() -> None:
    signed = "https://user:hunter2@cdn.example/a.png?X-Amz-Signature=sig-canary"
    assert "hunter2" not in source_resource_id(signed)
    assert "sig-canary" not in source_resource_id(signed)
    notice = ImageNotice(
        input=signed,
        status="failed",
        error="boom",
        options={"reference_images": [signed], "mask": signed, "prompt": "kept"},
    )
    payload = json.dumps(redacted_payload(notice.payload()))
    assert "hunter2" not in payload and "sig-canary" not in payload
    assert '"prompt": "kept"' in payload and "cdn.example/a.png" in payload


def test_with_no_prefect_api_nothing_is_emitted_and_nothing_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    notice = ImageNotice(input="s3://in/x.png", status="failed", error="boom")
    caplog.set_level(logging.DEBUG, logger="prefect_image_pipeline.announce.events")
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        started = time.monotonic()
        emit_image_events(notice)
        # Not the temporary server emit_event would otherwise start for the event.
        assert time.monotonic() - started < 1
    assert f"No Prefect API configured: {IMAGE_FAILED_EVENT} not emitted" in caplog.text


def test_the_documented_automation_posts_each_failed_image_to_the_webhook(
    prefect_api_url: str, tmp_path: Path
) -> None:
    name = f"image-failed-webhook-test-{uuid.uuid4().hex[:8]}"
    error = f"OpenAI refused the request ({name})"
    notice = ImageNotice(input=str(tmp_path / "cat.png"), status="failed", error=error)
    with WebhookReceiver() as receiver, _applied(name, receiver.url(), "--allow-private-url"):
        emit_image_events(notice)
        EventsWorker.drain_all()
        assert receiver.wait_until(lambda: bool(_mine(receiver, name)), timeout=60), receiver.posts
    (post,) = _mine(receiver, name)
    body = post.json()
    assert body["input"] == notice.input and body["error"] == error
    assert body["event"] == IMAGE_FAILED_EVENT and body["flow_run_id"] is None
    assert post.headers["content-type"] == "application/json"


@pytest.mark.slow  # over ~3 s: full lane only (the server stores events every 5 s)
def test_the_webhook_refuses_a_loopback_url_unless_allowed(prefect_api_url: str) -> None:
    name = f"image-failed-webhook-test-{uuid.uuid4().hex[:8]}"
    notice = ImageNotice(input=f"s3://in/{name}.png", status="failed", error=name)
    with WebhookReceiver() as receiver, _applied(name, receiver.url()) as automation_id:
        emit_image_events(notice)
        (failed,) = _read_events(
            prefect_api_url,
            "prefect.automation.action.failed",
            f"prefect.automation.{automation_id}",
        )
    assert "private" in failed["payload"]["reason"].lower(), failed["payload"]
    assert _mine(receiver, name) == []


def _mine(receiver: WebhookReceiver, name: str) -> list[ReceivedPost]:
    """The POSTs about this test's event (the automation would post any test's failures)."""
    return [post for post in receiver.delivered() if name in post.body.decode()]


@contextmanager
def _applied(name: str, url: str, *flags: str) -> Iterator[UUID]:
    """The documented command's automation and block, named ``name``; removed at the end."""
    argv = ["--webhook-url", url, *flags, "--name", name, "--block-name", name]
    assert apply_automation(argv) == 0
    with get_client(sync_client=True) as client:
        try:
            (automation,) = client.read_automations_by_name(name)
            yield automation.id
        finally:
            for automation in client.read_automations_by_name(name):
                client.delete_automation(automation.id)
            block = client.read_block_document_by_name(name, block_type_slug="webhook")
            assert block.id is not None
            client.delete_block_document(block.id)
