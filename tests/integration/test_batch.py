"""The process-images flow: fan-out, partial failure, caching, the concurrency cap, artifacts."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import cast

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
)
from prefect.client.schemas.objects import State
from prefect.client.schemas.sorting import ArtifactSort

from prefect_image_pipeline.batch.outcomes import BatchFailedError, BatchReport
from prefect_image_pipeline.process_images import process_images
from tests.conftest import S3Env
from tests.fakes.openai_server import FakeOpenAIServer, Fault
from tests.images import logo


def _write_logos(directory: Path, count: int, start: int = 0) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(start, start + count):
        path = directory / f"logo-{n}.png"
        path.write_bytes(logo(seed=n))
        paths.append(str(path))
    return paths


def _latest_artifact(key: str, state: State | None = None) -> object:
    """The newest artifact ``key``, of the run that ended in ``state`` if given."""
    flow_run = None
    if state is not None and state.state_details.flow_run_id is not None:
        flow_run = ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
    with get_client(sync_client=True) as client:
        (artifact,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]), flow_run_id=flow_run),
            limit=1,
            sort=ArtifactSort.CREATED_DESC,
        )
    return artifact


def test_one_bad_image_does_not_sink_the_rest(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    good = _write_logos(tmp_path / "in", 3)
    missing = str(tmp_path / "in" / "missing.png")
    with pytest.raises(BatchFailedError) as caught:
        process_images(images=[good[0], missing, good[1], good[2]], concurrency=2)
    report = caught.value.report
    assert [o.input for o in report.outcomes] == [good[0], missing, good[1], good[2]]
    assert [o.status for o in report.outcomes] == ["uploaded", "failed", "uploaded", "uploaded"]
    failure = report.outcomes[1]
    assert failure.error and "Image file not found" in failure.error
    assert missing in str(caught.value)
    assert sorted(s3.keys()) == sorted(o.key for o in report.uploaded if o.key)
    assert len(openai_fake.responses_requests) == 3


@pytest.mark.slow  # over ~3 s: full lane only
def test_rerun_of_a_finished_batch_is_all_cache_hits(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    images = _write_logos(tmp_path / "in", 4)
    first = process_images(images=images)
    assert isinstance(first, BatchReport) and len(first.uploaded) == 4
    second = process_images(images=images)
    assert len(openai_fake.responses_requests) == 4
    assert all(o.generation_cached for o in second.outcomes)
    assert [o.public_url for o in second.outcomes] == [o.public_url for o in first.outcomes]
    assert len(s3.keys()) == 4


def test_in_flight_openai_calls_never_exceed_the_cap(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    openai_fake.latency = 0.4
    images = _write_logos(tmp_path / "in", 8)
    report = process_images(images=images, concurrency=3)
    assert len(report.uploaded) == 8
    assert openai_fake.max_in_flight == 3


def test_duplicates_are_generated_once_even_at_the_same_moment(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    openai_fake.latency = 0.5
    (original,) = _write_logos(tmp_path / "a", 1)
    twin = tmp_path / "b" / "same-bytes.png"
    twin.parent.mkdir()
    twin.write_bytes(Path(original).read_bytes())
    report = process_images(images=[original, str(twin), original], concurrency=4)
    assert [o.status for o in report.outcomes] == ["uploaded"] * 3
    assert len(openai_fake.responses_requests) == 1
    assert report.outcomes[0].public_url == report.outcomes[2].public_url
    assert len(s3.keys()) == 2  # two names, one generation


def test_s3_inputs_are_read_with_the_run_credentials(
    openai_fake: FakeOpenAIServer, s3: S3Env
) -> None:
    s3.client.put_object(Bucket=s3.bucket, Key="sources/brand.jpg", Body=logo(fmt="JPEG"))  # type: ignore[attr-defined]
    report = process_images(images=[f"s3://{s3.bucket}/sources/brand.jpg"], s3_prefix="out")
    (outcome,) = report.outcomes
    assert (
        outcome.key
        and outcome.key.startswith("out/")
        and outcome.key.endswith("_generated_brand.png")
    )
    assert openai_fake.responses_requests[0].input_images[0].startswith("data:image/jpeg")


def test_artifacts_record_every_image(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    images = _write_logos(tmp_path / "in", 2)
    bad = tmp_path / "in" / "notes.txt"
    bad.write_text("not an image")
    state = process_images(images=[*images, str(bad)], return_state=True)
    assert state.is_failed()
    with pytest.raises(BatchFailedError):
        state.result()
    table = _latest_artifact("process-images-results", state)
    rows = json.loads(table.data)  # type: ignore[attr-defined]
    assert [row["input"] for row in rows] == [*images, str(bad)]
    assert [row["status"] for row in rows] == ["uploaded", "uploaded", "failed"]
    assert rows[0]["public_url"].startswith(f"https://{s3.bucket}.s3.")
    assert rows[0]["tokens"] > 0
    assert "Not a supported image" in rows[2]["error"]
    previews = _latest_artifact("process-images-previews", state)
    assert rows[0]["public_url"] in previews.data  # type: ignore[attr-defined]
    progress = _latest_artifact("process-images-progress", state)
    assert progress.data == 100.0  # type: ignore[attr-defined]


def test_batch_results_and_artifacts_carry_each_images_cost_and_the_total(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kinds = ("text_input", "cached_text_input", "text_output", "image_input", "image_output")
    prices = {"models": {m: dict.fromkeys(kinds, 1000.0) for m in ("gpt-5", "gpt-image-1.5")}}
    (tmp_path / "prices.json").write_text(json.dumps(prices))
    monkeypatch.setenv("IMAGE_PIPELINE_PRICES_FILE", str(tmp_path / "prices.json"))
    state = process_images(
        images=_write_logos(tmp_path / "in", 2), image_model="gpt-image-1.5", return_state=True
    )
    report = cast("BatchReport", state.result())
    costs = [o.cost.usd for o in report.outcomes if o.cost is not None]
    assert len(costs) == 2 and all(c is not None and c > 0 for c in costs)
    assert report.cost.usd == pytest.approx(sum(c for c in costs if c is not None))
    table = _latest_artifact("process-images-results", state)
    rows = json.loads(table.data)  # type: ignore[attr-defined]
    assert [row["cost_usd"] for row in rows] == [round(c or 0, 4) for c in costs]
    assert f"Estimated cost: ${report.cost.usd:.4f}" in table.description  # type: ignore[attr-defined]
    again = process_images(images=_write_logos(tmp_path / "in", 2), image_model="gpt-image-1.5")
    assert again.cost.usd == 0 and again.cost.cached


@pytest.mark.slow  # over ~3 s: full lane only
def test_a_global_concurrency_limit_is_shared_by_every_run(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    name = f"openai-test-{tmp_path.name[-12:]}".lower().replace("_", "-")
    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
    monkeypatch.setenv("IMAGE_PIPELINE_OPENAI_LIMIT", name)
    openai_fake.latency = 0.3
    report = process_images(images=_write_logos(tmp_path / "in", 3), concurrency=3)
    assert len(report.uploaded) == 3
    assert openai_fake.max_in_flight == 1  # the limit, not the run's own cap, decided


@pytest.mark.slow  # over ~3 s: full lane only
def test_a_429_pauses_the_whole_batch_not_just_one_task(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    openai_fake.latency = 0.2
    openai_fake.enqueue(Fault.rate_limit(retry_after=3.0))
    report = process_images(images=_write_logos(tmp_path / "in", 8), concurrency=4)
    assert len(report.uploaded) == 8
    arrivals = sorted(r.at for r in openai_fake.responses_requests)
    assert len(arrivals) == 9  # 8 images + the one 429
    # Requests already past the gate may still land just after the 429 (allow 1 s for a
    # loaded machine); after that, nobody calls OpenAI until the Retry-After has passed.
    later = [t - arrivals[0] for t in arrivals if t - arrivals[0] > 1.0]
    assert later and min(later) >= 2.9


@pytest.mark.api_logs  # reads the run's error logs from the server
def test_only_the_paid_steps_of_a_local_image_are_task_runs_named_after_it(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
        LogFilterLevel,
    )

    # With ``**options: Any`` in its type, mypy cannot tell return_state from an option.
    state = cast(
        "State[object]", process_images(images=_write_logos(tmp_path / "in", 3), return_state=True)
    )
    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None
    run_filter = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
    # Named after their input, so the UI tells a batch's runs apart.
    expected = [f"{step} logo-{n}.png" for step in ("generate", "upload") for n in range(3)]
    names: list[str] = []
    deadline = time.monotonic() + 30  # task runs reach the server as events, a bit later
    while time.monotonic() < deadline and names != expected:
        with get_client(sync_client=True) as client:
            runs = client.read_task_runs(flow_run_filter=run_filter)
        names = sorted(run.name for run in runs)
        time.sleep(0.2)
    assert names == expected
    # Each step commits eagerly and again with the pipeline; that must not log lock errors.
    with get_client(sync_client=True) as client:
        errors = client.read_logs(
            log_filter=LogFilter(
                flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]),
                level=LogFilterLevel(ge_=logging.ERROR),
            )
        )
    assert [log.message for log in errors] == []


def test_progress_updates_are_throttled_and_end_at_100() -> None:
    from prefect import flow

    from prefect_image_pipeline.batch.artifacts import ProgressArtifact

    def shown() -> object:
        return _latest_artifact("throttled-progress").data  # type: ignore[attr-defined]

    @flow
    def finish_five(interval: float) -> list[object]:
        """What the UI shows after each image (the clock never moves: no time passes)."""
        progress = ProgressArtifact(
            total=5, key="throttled-progress", interval=interval, clock=lambda: 0.0
        )
        seen = []
        for _ in range(5):
            progress.advance()
            seen.append(shown())
        return seen

    # Within the interval only the last image updates; with none, every image does.
    assert finish_five(3600.0) == [0.0, 0.0, 0.0, 0.0, 100.0]
    assert finish_five(0.0) == [20.0, 40.0, 60.0, 80.0, 100.0]


def test_a_step_lock_released_twice_is_not_an_error() -> None:
    from prefect_image_pipeline.cache.keys import StepLockManager

    locks = StepLockManager()  # type: ignore[no-untyped-call]
    locks.acquire_lock("key", holder="first")
    locks.release_lock("key", holder="second")  # not the holder: the lock stays
    assert locks.is_lock_holder("key", "first")
    locks.release_lock("key", holder="first")
    locks.release_lock("key", holder="first")
    assert not locks.is_locked("key")
