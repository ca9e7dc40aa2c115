"""What the platform hears from a real run: signed callbacks and Prefect events per image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prefect_image_pipeline.announce.callbacks import SIGNATURE_HEADER, verify
from prefect_image_pipeline.announce.names import (
    BATCH_FINISHED_EVENT,
    IMAGE_FAILED_EVENT,
    IMAGE_PUBLISHED_EVENT,
)
from prefect_image_pipeline.process_image import process_image
from prefect_image_pipeline.process_images import process_images
from prefect_image_pipeline.reprocess_images import reprocess_images
from tests.conftest import S3Env
from tests.events import stored_events
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.images import logo, logo_files

SECRET = "whsec-test-0123456789"


@pytest.mark.slow  # over ~3 s (the server stores events every few seconds): full lane only
def test_a_batch_posts_each_image_and_its_end_signed_and_emits_events(
    openai_fake: FakeOpenAIServer,
    s3: S3Env,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    prefect_api_url: str,
) -> None:
    monkeypatch.setenv("IMAGE_PIPELINE_CALLBACK_SECRET", SECRET)
    good = logo_files(tmp_path, 2)
    missing = str(tmp_path / "missing.png")
    with WebhookReceiver() as receiver:
        receiver.answer(503)  # the first delivery is retried, not lost
        state = process_images(
            # the last row repeats the first: one image, said and counted once
            images=[good[0], missing, {"input": good[1], "prompt": "In blue"}, good[0]],
            callback_url=receiver.url("/done"),
            return_state=True,
        )
        posts = receiver.wait_for(4)
    assert state.is_failed()  # one image failed: the run says so, and so do the callbacks
    for post in posts:
        assert verify(post.body, SECRET, post.headers[SIGNATURE_HEADER.lower()])
    kinds = [post.headers["x-image-pipeline-event"] for post in posts]
    assert sorted(kinds) == ["image", "image", "image", "run"] and kinds[-1] == "run"
    images = {post.json()["input"]: post.json() for post in posts[:3]}
    assert images[missing]["status"] == "failed" and "missing.png" in images[missing]["error"]
    published = images[good[1]]
    assert published["status"] == "published"
    assert published["s3_url"].startswith(f"s3://{s3.bucket}/")
    assert published["public_url"].startswith("https://")
    assert published["cost_usd"] > 0 and published["options"] == {"prompt": "In blue"}
    assert {c["name"] for c in published["checks"]} >= {"format", "size"}
    end = posts[3].json()
    assert (end["status"], end["published"], end["failed"]) == ("finished", 2, 1)
    run_id = state.state_details.flow_run_id
    assert end["flow_run_id"] == str(run_id)

    names = [IMAGE_PUBLISHED_EVENT, IMAGE_FAILED_EVENT, BATCH_FINISHED_EVENT]
    related = {"id": [f"prefect.flow-run.{run_id}"]}
    event_filter = {"event": {"name": names}, "related": related}
    events = stored_events(prefect_api_url, event_filter, lambda found: len(found) >= 4)
    by_name: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_name.setdefault(event["event"], []).append(event)
    assert len(by_name[IMAGE_PUBLISHED_EVENT]) == 2
    (failed,) = by_name[IMAGE_FAILED_EVENT]
    assert failed["payload"]["error"] == images[missing]["error"]
    assert {e["resource"]["prefect.resource.id"] for e in by_name[IMAGE_PUBLISHED_EVENT]} == {
        images[good[0]]["s3_url"],
        published["s3_url"],
    }
    sources = [
        r["prefect.resource.id"]
        for e in by_name[IMAGE_PUBLISHED_EVENT]
        for r in e["related"]
        if r.get("prefect.resource.role") == "source"
    ]
    assert sorted(sources) == sorted(Path(p).as_uri() for p in good)
    (finished,) = by_name[BATCH_FINISHED_EVENT]
    assert finished["payload"]["published"] == 2


def test_one_image_run_posts_its_image_and_its_end(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    (image,) = logo_files(tmp_path, 1)
    with WebhookReceiver() as receiver:
        result = process_image(image=image, callback_url=receiver.url())
        first, end = receiver.wait_for(2)
    assert "x-image-pipeline-signature-256" not in first.headers  # no secret: unsigned
    assert first.json()["public_url"] == result.public_url  # type: ignore[union-attr]
    assert end.json()["published"] == 1


def test_an_internal_callback_url_is_refused_before_any_call(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGE_URL_ALLOWED_HOSTS", "")
    (image,) = logo_files(tmp_path, 1)
    with pytest.raises(Exception, match="IMAGE_URL_ALLOWED_HOSTS"):
        process_images(images=[image], callback_url="http://127.0.0.1:9/hook")
    assert openai_fake.history == []


def test_reprocessing_announces_what_it_published_not_what_was_unchanged(
    openai_fake: FakeOpenAIServer, s3: S3Env
) -> None:
    for n in range(2):
        s3.client.put_object(Bucket=s3.bucket, Key=f"incoming/{n}.png", Body=logo(seed=n))  # type: ignore[attr-defined]
    with WebhookReceiver() as receiver:
        reprocess_images(source_prefix="incoming/", callback_url=receiver.url())
        first = receiver.wait_for(3)
        reprocess_images(source_prefix="incoming/", callback_url=receiver.url())
        posts = receiver.wait_for(4)
    kinds = [post.headers["x-image-pipeline-event"] for post in first]
    assert kinds == ["image", "image", "run"]
    assert {post.json()["input"] for post in first[:2]} == {
        f"s3://{s3.bucket}/incoming/0.png",
        f"s3://{s3.bucket}/incoming/1.png",
    }
    (again,) = posts[3:]  # the rerun: both unchanged, only its end is told
    assert again.headers["x-image-pipeline-event"] == "run"
    assert (again.json()["published"], again.json()["failed"]) == (0, 0)
