"""The batch warm-up prepares the run's clients without sending anything, and never fails."""

from __future__ import annotations

import threading

from flows import connections
from flows.connections import GeneratorTarget, StoreTarget
from flows.warmup import start_warm_up, warm_up
from tests.conftest import S3Env
from tests.fakes.openai_server import FakeOpenAIServer


def _store(s3: S3Env) -> StoreTarget:
    return StoreTarget(kind="s3", bucket=s3.bucket, region="us-east-1", endpoint_url=s3.endpoint)


def test_warm_up_builds_the_clients_the_images_will_share_and_sends_nothing(
    openai_fake: FakeOpenAIServer, s3: S3Env
) -> None:
    store = _store(s3)  # a new bucket: no client is cached for it yet
    s3_clients_before = len(connections._S3_CLIENTS)
    assert warm_up(GeneratorTarget(), store) == ["generator", "object store"]
    assert openai_fake.history == []  # nothing paid, nothing sent
    assert s3.keys() == []
    # The S3 client it built is the shared one the uploads will use.
    assert len(connections._S3_CLIENTS) == s3_clients_before + 1
    connections.s3_client(store)
    assert len(connections._S3_CLIENTS) == s3_clients_before + 1


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
