"""Batch mode against the fake Batch API: submit, wait, collect, publish; nothing paid twice."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import openai
import pytest

from prefect_image_pipeline.batch.outcomes import BatchFailedError, BatchReport
from prefect_image_pipeline.batch_api.ledger import LEDGER_FOLDER
from prefect_image_pipeline.collect_batches import collect_batches
from prefect_image_pipeline.process_image import process_image
from prefect_image_pipeline.process_images import process_images
from prefect_image_pipeline.reprocess_images import reprocess_images
from tests.conftest import TEST_OPENAI_KEY, S3Env
from tests.fakes.openai_server import FakeOpenAIServer
from tests.images import logo

MODEL = "gpt-image-1.5"


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Polls without pauses (the fake's batch time is simulated) and a price for every
    token the fake reports, with its batch column."""
    monkeypatch.setenv("IMAGE_PIPELINE_BATCH_POLL_SECONDS", "0.01")
    prices = {
        "models": {
            MODEL: {
                "text_input": 5.0,
                "image_input": 8.0,
                "image_output": 32.0,
                "batch": {"text_input": 2.5, "image_input": 4.0, "image_output": 16.0},
            }
        }
    }
    table = tmp_path / "prices.json"
    table.write_text(json.dumps(prices))
    monkeypatch.setenv("IMAGE_PIPELINE_PRICES_FILE", str(table))


def _images(tmp_path: Path, count: int, first_seed: int = 0) -> list[str]:
    paths = []
    for n in range(count):
        path = tmp_path / f"asset-{n:02d}.png"
        path.write_bytes(logo(seed=first_seed + n))
        paths.append(str(path))
    return paths


def _batch(images: list[str], **options: Any) -> BatchReport:
    """process_images in batch mode; the report whether or not some image failed."""
    state = process_images(
        images=images,
        batch_api=True,
        image_model=MODEL,
        quality="medium",
        return_state=True,
        **options,
    )
    try:
        return state.result()  # type: ignore[no-any-return]
    except BatchFailedError as failed:
        return failed.report


def _finish(fake: FakeOpenAIServer) -> None:
    """Poll every batch as OpenAI's dashboard would until it ends (moves simulated time)."""
    client = openai.OpenAI(base_url=fake.base_url, api_key=TEST_OPENAI_KEY)
    try:
        for batch in fake.batches:
            for _ in range(50):
                if client.batches.retrieve(batch["id"]).status in ("completed", "expired"):
                    break
    finally:
        client.close()


def _published(s3: S3Env, prefix: str = "generated-images") -> list[str]:
    return s3.keys(f"{prefix}/")


@pytest.mark.slow  # over ~3 s: full lane only
def test_a_batch_with_wait_is_published_at_half_price_and_never_paid_again(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    images = _images(tmp_path, 10)
    report = _batch(images, wait_for_batch=True)

    assert [o.status for o in report.outcomes] == ["uploaded"] * 10, report.summary()
    (batch,) = openai_fake.batches
    assert batch["endpoint"] == "/v1/images/edits" and batch["status"] == "completed"
    assert batch["metadata"]["image_pipeline_submission"]
    assert openai_fake.batch_lines_answered == 10
    assert openai_fake.images_requests == [] and openai_fake.responses_requests == []
    assert openai_fake.spec_errors == []
    lines = openai_fake.batch_input_lines(batch["id"])
    assert len({line["custom_id"] for line in lines}) == 10
    body = lines[0]["body"]
    assert (body["model"], body["quality"]) == (MODEL, "medium")
    assert body["images"][0]["image_url"].startswith("data:image/png;base64,")
    assert len(_published(s3)) == 10
    cost = report.cost
    assert cost.batch and cost.usd is not None and cost.interactive_usd is not None
    assert cost.usd == pytest.approx(cost.interactive_usd / 2)
    assert "at the Batch API price; interactive: $" in cost.describe()

    again = _batch(images, wait_for_batch=True)
    assert [o.status for o in again.outcomes] == ["uploaded"] * 10
    assert [o.public_url for o in again.outcomes] == [o.public_url for o in report.outcomes]
    assert len(openai_fake.batches) == 1 and openai_fake.batch_lines_answered == 10
    assert again.cost.usd == 0.0
    # The interactive path finds the batch's answer in the cache: no call.
    single = process_image(image=images[3], api="images", image_model=MODEL, quality="medium")
    assert single.generation_cached and openai_fake.images_requests == []
    assert len(_published(s3)) == 10


def test_without_wait_the_run_submits_and_the_next_run_publishes(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    images = _images(tmp_path, 3)
    first = _batch(images)
    assert [o.status for o in first.outcomes] == ["submitted"] * 3
    (batch,) = openai_fake.batches
    assert {o.batch_id for o in first.outcomes} == {batch["id"]}
    (open_entry,) = s3.keys(f"{LEDGER_FOLDER}/open/")
    entry = json.loads(s3.read(open_entry))
    assert entry["batch_id"] == batch["id"] and sorted(entry["requests"].values()) == images

    still_running = _batch(images)  # one look: the batch is not done yet
    assert [o.status for o in still_running.outcomes] == ["submitted"] * 3
    assert len(openai_fake.batches) == 1

    _finish(openai_fake)
    done = _batch(images)
    assert [o.status for o in done.outcomes] == ["uploaded"] * 3
    assert len(openai_fake.batches) == 1 and openai_fake.batch_lines_answered == 3
    assert s3.keys(f"{LEDGER_FOLDER}/open/") == []
    (closed,) = s3.keys(f"{LEDGER_FOLDER}/closed/")
    assert json.loads(s3.read(closed))["outcome"] == "completed: 3 published, 0 failed"


def _sent(path: str) -> Any:
    """A matcher for the batch line that carries this file as its input image."""
    encoded = base64.b64encode(Path(path).read_bytes()).decode()
    return lambda line: line["body"]["images"][0]["image_url"].endswith(encoded)


def test_an_error_file_line_fails_that_image_and_the_others_publish(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    images = _images(tmp_path, 4)
    openai_fake.fail_batch_lines(_sent(images[2]))
    report = _batch(images, wait_for_batch=True)
    assert [o.status for o in report.outcomes] == ["uploaded", "uploaded", "failed", "uploaded"]
    error = report.outcomes[2].error or ""
    assert "Batch API refused it" in error and "moderation_blocked" in error
    assert len(_published(s3)) == 3 and len(openai_fake.batches) == 1


def test_an_expired_batch_resubmits_only_what_did_not_finish(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    images = _images(tmp_path, 5)
    openai_fake.expire_next_batch(done=2)
    report = _batch(images, wait_for_batch=True)
    assert [o.status for o in report.outcomes] == ["uploaded"] * 5, report.summary()
    first, second = openai_fake.batches
    assert (first["status"], second["status"]) == ("expired", "completed")
    assert len(openai_fake.batch_input_lines(second["id"])) == 3
    assert openai_fake.batch_lines_answered == 5 and len(_published(s3)) == 5
    closed = [json.loads(s3.read(key)) for key in s3.keys(f"{LEDGER_FOLDER}/closed/")]
    assert sorted(entry["outcome"] for entry in closed) == [
        "completed: 3 published, 0 failed",
        "expired: 2 published, 0 failed, 3 returned to the queue",
    ]


def test_cached_images_are_not_submitted(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    images = _images(tmp_path, 3)
    process_image(image=images[0], api="images", image_model=MODEL, quality="medium")
    report = _batch(images)
    assert [o.status for o in report.outcomes] == ["uploaded", "submitted", "submitted"]
    (batch,) = openai_fake.batches
    assert len(openai_fake.batch_input_lines(batch["id"])) == 2


def test_the_responses_endpoint_in_batch_mode_warns_and_sends_responses_lines(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    images = _images(tmp_path, 2)
    report = _batch(images, api="responses", wait_for_batch=True)
    assert [o.status for o in report.outcomes] == ["uploaded"] * 2
    (batch,) = openai_fake.batches
    assert batch["endpoint"] == "/v1/responses"
    line = openai_fake.batch_input_lines(batch["id"])[0]
    assert line["body"]["tools"][0]["type"] == "image_generation"
    assert openai_fake.spec_errors == []
    assert "has not documented" in caplog.text


def test_batch_mode_refuses_offline_before_any_call(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="drop --offline"):
        process_images(images=_images(tmp_path, 1), batch_api=True, offline=True)
    assert openai_fake.history == []


def test_reprocess_images_submits_on_the_first_run_and_publishes_on_the_next(
    openai_fake: FakeOpenAIServer, s3: S3Env
) -> None:
    for n in range(3):
        s3.client.put_object(  # type: ignore[attr-defined]
            Bucket=s3.bucket, Key=f"incoming/logo-{n}.png", Body=logo(seed=n)
        )
    options: dict[str, Any] = {"batch_api": True, "image_model": MODEL, "quality": "medium"}
    first = reprocess_images(**options)
    assert [o.status for o in first.outcomes] == ["submitted"] * 3
    manifest_key = "reprocessed/manifest.json"
    assert json.loads(s3.read(manifest_key))["entries"] == {}
    _finish(openai_fake)
    second = reprocess_images(**options)
    assert [o.status for o in second.outcomes] == ["uploaded"] * 3
    assert len(json.loads(s3.read(manifest_key))["entries"]) == 3
    third = reprocess_images(**options)
    assert [o.status for o in third.outcomes] == ["skipped"] * 3
    assert len(openai_fake.batches) == 1 and openai_fake.batch_lines_answered == 3


def test_collect_batches_publishes_what_other_runs_submitted(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    images = _images(tmp_path, 2)
    _batch(images, s3_prefix="campaign")
    _finish(openai_fake)
    collected = collect_batches()
    assert [o.status for o in collected.outcomes] == ["uploaded"] * 2
    assert all(key.startswith("campaign/") for key in (o.key or "" for o in collected.outcomes))
    assert collect_batches().outcomes == []  # nothing left to collect
    rerun = _batch(images, s3_prefix="campaign")
    assert sorted(str(o.public_url) for o in rerun.outcomes) == sorted(
        str(o.public_url) for o in collected.outcomes
    )
    assert len(openai_fake.batches) == 1
