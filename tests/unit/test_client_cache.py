"""Clients are built once per configuration and process, and rebuilt when it changes."""

from __future__ import annotations

import pytest

from prefect_image_pipeline.edges.openai.client import openai_client
from prefect_image_pipeline.edges.reuse import ClientCache
from prefect_image_pipeline.pipeline.targets import StoreTarget


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_same_config_reuses_the_client_until_it_expires() -> None:
    clock = _Clock()
    cache: ClientCache[object] = ClientCache(ttl_seconds=60, clock=clock)
    first = cache.get(("key", 1), object)
    assert cache.get(("key", 1), object) is first
    assert cache.get(("key", 2), object) is not first
    clock.now = 61
    assert cache.get(("key", 1), object) is not first
    assert len(cache) == 1  # the expired ("key", 2) client was dropped, not kept forever


def test_secrets_in_a_config_are_not_kept() -> None:
    cache: ClientCache[object] = ClientCache()
    cache.get(("sk-secret-canary",), object)
    assert "sk-secret-canary" not in repr(vars(cache))


def test_openai_client_is_shared_until_the_environment_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-one")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    client = openai_client()
    assert openai_client() is client
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:10/v1")
    moved = openai_client()
    assert moved is not client and str(moved.base_url).startswith("http://127.0.0.1:10/")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-two")
    assert openai_client() is not moved
    monkeypatch.setenv("IMAGE_PIPELINE_OPENAI_TIMEOUT", "5")
    assert openai_client().timeout == 5.0


def test_s3_client_is_shared_per_target_and_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    target = StoreTarget(kind="s3", bucket="one", region="us-east-1")
    client = target.s3_client()
    assert target.s3_client() is client
    assert StoreTarget(kind="s3", bucket="two", region="us-east-1").s3_client() is not client
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:10")
    moved = target.s3_client()
    assert moved is not client and moved.meta.endpoint_url == "http://127.0.0.1:10"
