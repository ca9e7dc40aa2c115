"""Pacing by images per minute: the schedules, the fake's rate limit, and runs held to it."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

from prefect_image_pipeline.pacing.rate import BURST, LocalSchedule, RedisSchedule, wait_turn
from prefect_image_pipeline.process_images import process_images
from tests.clock import ManualClock
from tests.conftest import S3Env
from tests.fakes.openai_server import FakeOpenAIServer
from tests.images import logo


def test_a_schedule_spaces_requests_evenly_and_saves_no_credit() -> None:
    clock = ManualClock()
    schedule = LocalSchedule(images_per_minute=60, clock=clock)
    assert [schedule.reserve() for _ in range(4)] == [0.0, 1.0, 2.0, 3.0]  # reserved turns
    clock.now += 3.0  # the reserved turns have passed
    assert schedule.reserve() == pytest.approx(1.0)
    clock.now += 30.0  # idle: no credit is saved up beyond the burst
    assert [schedule.reserve() for _ in range(3)] == [0.0, 1.0, 2.0]


def test_waiting_for_turns_holds_any_window_to_the_rate() -> None:
    clock = ManualClock()
    schedule = LocalSchedule(images_per_minute=30, clock=clock)
    starts = []
    for _ in range(12):
        wait_turn(schedule, sleep=clock.sleep)
        starts.append(clock.now)
    # 30 a minute: one every 2 s after a burst of BURST.
    for i in range(len(starts)):
        for j in range(i + 1, len(starts)):
            assert starts[j] - starts[i] >= (j - i - (BURST - 1)) * 2.0


def test_hosts_sharing_redis_share_one_schedule(redis_url: str) -> None:
    name = f"test-{uuid.uuid4().hex[:8]}"
    host_a = RedisSchedule(redis_url, name, images_per_minute=600)  # one per 0.1 s
    host_b = RedisSchedule(redis_url, name, images_per_minute=600)
    waits = [host.reserve() for host in (host_a, host_b, host_a, host_b)]
    # Turns reserved 0.1 s apart across both, minus the few ms between these calls.
    assert waits[0] == 0.0
    assert 0.05 < waits[1] <= 0.1 and 0.15 < waits[2] <= 0.2 and 0.25 < waits[3] <= 0.3, waits


def test_the_fake_enforces_images_per_minute_with_retry_after(
    openai_fake: FakeOpenAIServer,
) -> None:
    import httpx

    openai_fake.images_per_minute = 60
    body = {"model": "gpt-5", "input": "x", "tools": [{"type": "image_generation"}]}
    headers = {"Authorization": "Bearer sk-test-canary-0123456789abcdef"}
    with httpx.Client(base_url=openai_fake.base_url, headers=headers) as client:
        answers = [client.post("/responses", json=body) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert 0.5 < float(answers[2].headers["retry-after"]) <= 1.0
    assert openai_fake.rate_limited == 1


def _logos(tmp_path: Path, count: int) -> list[str]:
    paths = []
    for n in range(count):
        path = tmp_path / f"logo-{n}.png"
        path.write_bytes(logo(seed=40 + n))
        paths.append(str(path))
    return paths


def _arrivals(fake: FakeOpenAIServer) -> list[float]:
    return sorted(r.at for r in fake.responses_requests)


def _held_to(arrivals: list[float], interval: float) -> bool:
    """No more than the rate in any window, beyond a burst of 2 (what OpenAI allows): turns
    are reserved exactly, but a request can reach the fake a few ms late (a first
    connection), bunching it with the next one."""
    slack = 0.01
    return all(
        arrivals[j] - arrivals[i] >= (j - i - 1) * interval - slack
        for i in range(len(arrivals))
        for j in range(i + 1, len(arrivals))
    )


# Paced at 120 a minute (one every 0.5 s) against OpenAI's bucket at that rate plus a tenth.
# The turns are exact; the arrivals carry the machine's jitter. With both cores busy (the
# suite's two workers) a thread was seen to leave its turn 0.25 s late: a lateness under
# one interval bunches it with the next request only, which a burst of 2 allows, so the
# interval is kept well above it.
RATE = 120
INTERVAL = 60 / RATE
ALLOWANCE = RATE * 1.1


@pytest.mark.slow  # over ~3 s: full lane only (the fleet-rate test below paces in both)
def test_a_batch_at_its_images_per_minute_gets_no_429(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    openai_fake.images_per_minute = ALLOWANCE  # OpenAI's bucket: burst 2, then its rate
    images = _logos(tmp_path, 5)
    report = process_images(images=images, concurrency=4, images_per_minute=RATE)
    assert len(report.uploaded) == 5
    assert openai_fake.rate_limited == 0
    assert len(openai_fake.responses_requests) == 5
    assert _held_to(_arrivals(openai_fake), INTERVAL)


def test_without_pacing_the_same_batch_is_rate_limited(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    openai_fake.images_per_minute = 300
    report = process_images(images=_logos(tmp_path, 6), concurrency=4)
    assert len(report.uploaded) == 6  # the client's retries get there, paying in 429s
    assert openai_fake.rate_limited > 0


def test_the_fleet_rate_is_the_limit_of_a_prefect_global_concurrency_limit(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"images-per-minute-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=RATE))
    monkeypatch.setenv("IMAGE_PIPELINE_RATE_LIMIT", name)
    openai_fake.images_per_minute = ALLOWANCE
    report = process_images(images=_logos(tmp_path, 5), concurrency=4)  # no rate of its own
    assert len(report.uploaded) == 5
    assert openai_fake.rate_limited == 0
    assert _held_to(_arrivals(openai_fake), INTERVAL)
