"""The batch warm-up prepares the run's clients without sending anything, and never fails."""

from __future__ import annotations

import threading

from prefect_image_pipeline.batch.warmup import start_warm_up, warm_up
from prefect_image_pipeline.pipeline.targets import GeneratorTarget, StoreTarget
from tests.conftest import S3Env
from tests.fakes.openai_server import FakeOpenAIServer


def _store(s3: S3Env) -> StoreTarget:
    return StoreTarget(kind="s3", bucket=s3.bucket, region="us-east-1", endpoint_url=s3.endpoint)


def test_warm_up_builds_the_clients_and_sends_nothing(
    openai_fake: FakeOpenAIServer, s3: S3Env
) -> None:
    # Both parts ready: the OpenAI client with its answer models, and the S3 client
    # (shared through prefect_image_pipeline.edges.reuse, tested in tests/unit/test_client_cache.py).
    assert warm_up(GeneratorTarget(), _store(s3)) == ["generator", "object store"]
    assert openai_fake.history == []  # nothing paid, nothing sent
    assert s3.keys() == []


def test_warm_up_leaves_failures_to_the_real_call(s3: S3Env) -> None:
    missing_block = GeneratorTarget(credentials_block="no-such-openai-block")
    assert warm_up(missing_block, _store(s3)) == ["object store"]
    unreadable = StoreTarget(kind="s3", bucket=s3.bucket, bucket_block="no-such-bucket-block")
    assert warm_up(GeneratorTarget(kind="offline"), unreadable) == ["generator"]


def test_start_warm_up_runs_on_its_own_daemon_thread() -> None:
    thread = start_warm_up(GeneratorTarget(kind="offline"), StoreTarget(kind="local"))
    assert thread.daemon and thread.name == "warm-up"
    assert thread is not threading.current_thread()
    thread.join(timeout=10)
    assert not thread.is_alive()
