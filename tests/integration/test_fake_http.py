"""The image HTTP fakes speak real HTTP: driven by requests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import openai
import pytest
import requests

from tests.fake_clients import (
    create_kwargs,
    make_client,
    png_bytes,
)
from tests.fakes.http_server import ImageHTTPServer
from tests.fakes.openai_server import FakeOpenAIServer

# Every client a test makes is closed after it (tests/conftest.py: close_clients).
pytestmark = pytest.mark.usefixtures("close_clients")

# ---------------------------------------------------------------------------
# ImageHTTPServer
# ---------------------------------------------------------------------------


@pytest.fixture
def images() -> Iterator[ImageHTTPServer]:
    with ImageHTTPServer() as server:
        yield server
        assert server.errors == 0, "the fake itself raised"


def test_serves_bodies_statuses_and_redirects(images: ImageHTTPServer) -> None:
    body = png_bytes()
    url = images.add("/cat.png", body, headers={"Cache-Control": "no-store"})
    assert url == images.url("cat.png") == f"http://127.0.0.1:{images.port}/cat.png"
    answer = requests.get(url, timeout=5)
    assert (answer.status_code, answer.content) == (200, body)
    assert answer.headers["Content-Type"] == "image/png"
    assert answer.headers["Cache-Control"] == "no-store"

    images.add("/gone.png", b"gone", content_type="text/plain", status=410)
    assert requests.get(images.url("/gone.png"), timeout=5).status_code == 410
    assert requests.get(images.url("/missing.png"), timeout=5).status_code == 404

    hop = images.redirect("/hop", url)
    followed = requests.get(hop, timeout=5)
    assert (followed.status_code, followed.url, followed.content) == (200, url, body)
    assert [r.status_code for r in followed.history] == [302]

    assert images.request_count("/cat.png") == 2
    requests.get(url + "?v=2", timeout=5)
    assert images.request_count("/cat.png") == 3
    assert images.request_count("/cat.png?v=2") == 1
    assert [r.method for r in images.history][:1] == ["GET"]
    assert images.history[0].headers["host"] == f"127.0.0.1:{images.port}"


def test_stall_triggers_client_timeouts(images: ImageHTTPServer) -> None:
    images.stall("/slow-body.png", 5)
    images.stall("/slow-head.png", 5, phase="headers")
    # requests reports a read timeout inside the body as ConnectionError.
    with pytest.raises(requests.ConnectionError, match="Read timed out"):
        requests.get(images.url("/slow-body.png"), timeout=0.2)
    with pytest.raises(requests.ReadTimeout):
        requests.get(images.url("/slow-head.png"), timeout=0.2)
    # Both requests reached the fake, whose handlers are still stalling: the clients
    # timed out, the fake did not hang up on them.
    assert images.request_count("/slow-body.png") == images.request_count("/slow-head.png") == 1
    assert images.open_connections == 2


def test_reset_and_lying_length(images: ImageHTTPServer) -> None:
    images.reset("/reset.png")
    with pytest.raises(requests.ConnectionError):
        requests.get(images.url("/reset.png"), timeout=5)
    images.lying_length("/short.png", b"\x89PNG", claimed_length=1000)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(images.url("/short.png"), timeout=5)


def test_endless_stream_and_prompt_stop() -> None:
    images = ImageHTTPServer().start()
    url = images.endless("/endless.png")
    images.stall("/stalled.png", 30)
    with requests.get(url, stream=True, timeout=5) as partial:
        assert partial.headers["Content-Type"] == "image/png"
        received = 0
        for chunk in partial.iter_content(64 * 1024):
            received += len(chunk)
            if received >= 1_000_000:
                break
    assert received >= 1_000_000
    # Leave one endless reader connected but idle, and one client waiting on a stall.
    idle = requests.get(url, stream=True, timeout=5)
    waiter = threading.Thread(target=lambda: _swallow(images.url("/stalled.png")), daemon=True)
    waiter.start()
    assert images.wait_until(lambda: images.request_count("/stalled.png") == 1)
    images.stop()
    # stop() returns once the handlers have finished, or once its join budget is spent:
    # an endless writer or a stall that missed the stop would still hold its connection.
    assert images.open_connections == 0
    idle.close()
    waiter.join(5)
    assert images.errors == 0


def _swallow(url: str) -> None:
    try:
        requests.get(url, timeout=10)
    except requests.RequestException:
        pass


def test_latency_counts_from_arrival_and_includes_the_fakes_own_work(
    fake: FakeOpenAIServer,
) -> None:
    fake.latency = 0.3
    # A fresh client, so connection, for each call: on one keep-alive connection the fake
    # reads the next request only once done with the last, however early it answered.
    # The first call warms the client up; cold, it alone can outlast the latency.
    for _ in range(3):
        make_client(fake).responses.create(**create_kwargs())
    assert fake.wait_until(lambda: len(fake.handled_seconds) == 3)
    handled = fake.handled_seconds
    assert len(handled) == 3
    assert all(seconds >= fake.latency for seconds in handled)
    # The answer itself was held back, not just its booking: by the fake's arrival times,
    # the client could send its next request only a full latency after the last.
    _, first, second = fake.responses_requests
    assert second.at - first.at >= fake.latency
    fake.reset()
    assert fake.handled_seconds == []


def test_fake_servers_send_without_nagle_delay(fake: FakeOpenAIServer) -> None:
    # Headers and body are two writes; with Nagle on, a short body waited ~40 ms for the
    # client's delayed ACK on every answer, a stall the real API does not have.
    with openai.OpenAI(api_key="sk-test", base_url=fake.base_url, max_retries=0) as client:
        with pytest.raises(openai.AuthenticationError):
            client.responses.create(model="gpt-4.1", input="hi")
        sockets = list(fake._connections)
        assert sockets, "the fake should still hold the keep-alive connection"
        assert all(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in sockets)
