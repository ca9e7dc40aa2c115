"""The test fakes speak the real protocols: driven by the real openai and requests clients."""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest
import requests
from openai.types.responses import Response
from PIL import Image

from tests.fakes.http_server import ImageHTTPServer
from tests.fakes.openai_server import FakeOpenAIServer, Fault

API_KEY = "sk-test-0123456789"


def png_bytes(size: tuple[int, int] = (8, 6), colour: tuple[int, ...] = (200, 10, 30)) -> bytes:
    """A small RGB PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def create_kwargs(
    image_url: str | None = None, text: str = "Recreate this image."
) -> dict[str, Any]:
    """Arguments for responses.create, shaped like the pipeline's call."""
    content: list[dict[str, Any]] = [{"type": "input_text", "text": text}]
    if image_url is not None:
        content.append({"type": "input_image", "image_url": image_url})
    return {
        "model": "gpt-5",
        "input": [{"role": "user", "content": content}],
        "tools": [{"type": "image_generation", "background": "transparent", "quality": "high"}],
        "tool_choice": {"type": "image_generation"},
    }


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(api_key=API_KEY) as server:
        yield server
        assert server.errors == 0, "the fake itself raised"


def make_client(fake: FakeOpenAIServer, **options: Any) -> openai.OpenAI:
    options.setdefault("max_retries", 0)
    options.setdefault("api_key", API_KEY)
    return openai.OpenAI(base_url=fake.base_url, **options)


# ---------------------------------------------------------------------------
# FakeOpenAIServer: success path
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("strict", [False, True])
def test_success_parses_and_carries_the_input_image(fake: FakeOpenAIServer, strict: bool) -> None:
    client = make_client(fake, _strict_response_validation=strict)
    response = client.responses.create(**create_kwargs(data_url(png_bytes())))

    assert isinstance(response, Response)
    assert response.id.startswith("resp_")
    assert response.status == "completed"
    assert response.model == "gpt-5"
    assert [item.type for item in response.output] == ["image_generation_call"]
    call = response.output[0]
    assert call.type == "image_generation_call"
    assert call.id.startswith("ig_")
    assert call.status == "completed"
    assert (call.background, call.quality, call.output_format, call.size) == (
        "transparent",
        "high",
        "png",
        "1024x1024",
    )
    assert call.revised_prompt
    assert call.result is not None
    image = Image.open(io.BytesIO(base64.b64decode(call.result)))
    assert (image.format, image.mode, image.size) == ("PNG", "RGBA", (8, 6))
    assert image.getpixel((3, 3)) == (200, 10, 30, 255)
    assert response.usage is not None
    assert response.usage.input_tokens_details.cache_write_tokens == 0
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    tool = response.tools[0]
    assert tool.type == "image_generation"
    assert tool.background == "transparent"
    assert response.tool_choice.type == "image_generation"  # type: ignore[union-attr]


def test_raw_body_validates_against_the_full_schema(fake: FakeOpenAIServer) -> None:
    raw = make_client(fake).responses.with_raw_response.create(
        **create_kwargs(data_url(png_bytes()))
    )
    assert raw.headers["x-request-id"].startswith("req_")
    # Full pydantic validation, independent of the client's lenient construction.
    Response.model_validate(json.loads(raw.http_response.text))


def test_output_is_deterministic_and_falls_back_without_image(
    fake: FakeOpenAIServer,
) -> None:
    client = make_client(fake)
    jpeg = io.BytesIO()
    Image.new("RGB", (5, 5), (0, 128, 255)).save(jpeg, format="JPEG")
    url = data_url(jpeg.getvalue(), "image/jpeg")
    first = client.responses.create(**create_kwargs(url)).output[0]
    second = client.responses.create(**create_kwargs(url)).output[0]
    assert first.type == second.type == "image_generation_call"
    assert first.result == second.result
    assert first.id != second.id

    for kwargs in (
        create_kwargs(None),
        create_kwargs("data:image/png;base64,not-an-image"),
    ):
        call = client.responses.create(**kwargs).output[0]
        assert call.type == "image_generation_call"
        assert call.result is not None
        fallback = Image.open(io.BytesIO(base64.b64decode(call.result)))
        assert (fallback.mode, fallback.size) == ("RGBA", (64, 64))


def test_history_records_requests(fake: FakeOpenAIServer) -> None:
    url = data_url(png_bytes())
    make_client(fake).responses.create(**create_kwargs(url, text="hello"))
    [recorded] = fake.responses_requests
    assert (recorded.method, recorded.path) == ("POST", "/v1/responses")
    assert recorded.headers["authorization"] == f"Bearer {API_KEY}"
    assert recorded.json["tool_choice"] == {"type": "image_generation"}
    assert recorded.input_images == [url]
    assert recorded.prompt == "hello"
    fake.reset()
    assert fake.history == []


# ---------------------------------------------------------------------------
# FakeOpenAIServer: errors and faults
# ---------------------------------------------------------------------------


def test_wrong_or_missing_key_is_401(fake: FakeOpenAIServer) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        make_client(fake, api_key="sk-wrong-0000000").responses.create(**create_kwargs())
    assert caught.value.code == "invalid_api_key"
    assert caught.value.type == "invalid_request_error"
    assert caught.value.request_id and caught.value.request_id.startswith("req_")
    assert "sk-wrong-0000000" not in caught.value.message

    answer = requests.post(f"{fake.base_url}/responses", json=create_kwargs(), timeout=5)
    assert answer.status_code == 401
    assert answer.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("fault", "exception", "status", "code"),
    [
        (Fault.rate_limit(), openai.RateLimitError, 429, "rate_limit_exceeded"),
        (Fault.insufficient_quota(), openai.RateLimitError, 429, "insufficient_quota"),
        (Fault.server_error(), openai.InternalServerError, 500, None),
        (Fault.server_error(503), openai.InternalServerError, 503, None),
        (Fault.moderation_blocked(), openai.BadRequestError, 400, "moderation_blocked"),
        (Fault.transparent_unsupported(), openai.BadRequestError, 400, "invalid_value"),
        (Fault.unauthorized(), openai.AuthenticationError, 401, "invalid_api_key"),
        (Fault.forbidden(), openai.PermissionDeniedError, 403, None),
        (Fault.not_found(), openai.NotFoundError, 404, "model_not_found"),
    ],
)
def test_fault_maps_to_openai_exception(
    fake: FakeOpenAIServer,
    fault: Fault,
    exception: type[openai.APIStatusError],
    status: int,
    code: str | None,
) -> None:
    fake.enqueue(fault)
    with pytest.raises(exception) as caught:
        make_client(fake).responses.create(**create_kwargs())
    error = caught.value
    assert error.status_code == status
    assert error.code == code
    assert error.request_id and error.request_id.startswith("req_")
    assert isinstance(error.body, dict)
    assert set(error.body) == {"message", "type", "param", "code"}
    assert "{" not in error.message  # placeholders were filled
    assert fake.pending_faults == 0


def test_fault_details(fake: FakeOpenAIServer) -> None:
    client = make_client(fake)
    fake.enqueue(Fault.moderation_blocked(), Fault.transparent_unsupported(), Fault.not_found())
    with pytest.raises(openai.BadRequestError) as moderation:
        client.responses.create(**create_kwargs())
    assert moderation.value.type == "image_generation_user_error"
    assert "rejected by the safety system" in moderation.value.message
    assert str(moderation.value.request_id) in moderation.value.message
    with pytest.raises(openai.BadRequestError) as transparent:
        client.responses.create(**create_kwargs())
    assert transparent.value.param == "tools[0].background"
    assert "Transparent background is not supported for this model." in transparent.value.message
    with pytest.raises(openai.NotFoundError) as missing:
        client.responses.create(**create_kwargs())
    assert "`gpt-5`" in missing.value.message


def test_rate_limit_headers(fake: FakeOpenAIServer) -> None:
    fake.enqueue(Fault.rate_limit(0.25), Fault.rate_limit(None))
    client = make_client(fake)
    with pytest.raises(openai.RateLimitError) as with_delay:
        client.responses.create(**create_kwargs())
    headers = with_delay.value.response.headers
    assert (headers["retry-after-ms"], headers["retry-after"]) == ("250", "0.25")
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"] == "250ms"
    with pytest.raises(openai.RateLimitError) as without_delay:
        client.responses.create(**create_kwargs())
    assert "retry-after" not in without_delay.value.response.headers
    assert "retry-after-ms" not in without_delay.value.response.headers


def test_client_retries_honour_retry_after_ms(fake: FakeOpenAIServer) -> None:
    client = make_client(fake, max_retries=2)
    # Without retry-after-ms the client would back off >= 0.375 s + 0.75 s.
    fake.enqueue(*[Fault.rate_limit(0.01)] * 3)
    started = time.monotonic()
    with pytest.raises(openai.RateLimitError):
        client.responses.create(**create_kwargs())
    assert time.monotonic() - started < 0.35
    attempts = fake.responses_requests
    assert len(attempts) == client.max_retries + 1
    assert [r.headers["x-stainless-retry-count"] for r in attempts] == ["0", "1", "2"]

    fake.reset()
    fake.enqueue(Fault.rate_limit(0.01), Fault.rate_limit(0.01))
    response = client.responses.create(**create_kwargs())
    assert response.output[0].type == "image_generation_call"
    assert len(fake.responses_requests) == 3


def test_default_fault_is_permanent(fake: FakeOpenAIServer) -> None:
    fake.default_fault = Fault.server_error()
    client = make_client(fake)
    for _ in range(3):
        with pytest.raises(openai.InternalServerError):
            client.responses.create(**create_kwargs())
    fake.reset()
    assert client.responses.create(**create_kwargs()).status == "completed"


def test_timeout_and_connection_reset(fake: FakeOpenAIServer) -> None:
    client = make_client(fake, timeout=0.2)
    fake.enqueue(Fault.timeout(1.0), Fault.connection_reset())
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client.responses.create(**create_kwargs())
    assert time.monotonic() - started < 0.9
    with pytest.raises(openai.APIConnectionError) as reset:
        client.responses.create(**create_kwargs())
    assert not isinstance(reset.value, openai.APITimeoutError)
    # A delay shorter than the client timeout still succeeds.
    fake.enqueue(Fault.timeout(0.05))
    assert client.responses.create(**create_kwargs()).status == "completed"


def test_malformed_body(fake: FakeOpenAIServer) -> None:
    fake.enqueue(Fault.malformed(), Fault.malformed("text/html"), Fault.malformed("text/html"))
    # A JSON content type with a broken body escapes the client as a plain ValueError.
    with pytest.raises(json.JSONDecodeError):
        make_client(fake).responses.create(**create_kwargs())
    text = make_client(fake).responses.create(**create_kwargs())
    assert isinstance(text, str)
    with pytest.raises(openai.APIResponseValidationError):
        make_client(fake, _strict_response_validation=True).responses.create(**create_kwargs())


@pytest.mark.parametrize("strict", [False, True])
def test_no_image_and_failed_call(fake: FakeOpenAIServer, strict: bool) -> None:
    client = make_client(fake, _strict_response_validation=strict)
    fake.enqueue(Fault.no_image(), Fault.failed_call())
    message = client.responses.create(**create_kwargs())
    assert [item.type for item in message.output] == ["message"]
    assert message.output_text == "I can't help with generating that image."
    failed = client.responses.create(**create_kwargs()).output[0]
    assert failed.type == "image_generation_call"
    assert (failed.status, failed.result) == ("failed", None)
    assert failed.error is not None
    assert failed.error.code == "moderation_blocked"


def test_request_validation_and_unknown_paths(fake: FakeOpenAIServer) -> None:
    client = make_client(fake)
    kwargs = create_kwargs()
    kwargs["tools"] = []
    with pytest.raises(openai.BadRequestError) as no_tool:
        client.responses.create(**kwargs)
    assert no_tool.value.param == "tool_choice"
    kwargs["tool_choice"] = "auto"
    assert client.responses.create(**kwargs).output[0].type == "message"

    answer = requests.get(
        f"{fake.base_url}/models",
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=5,
    )
    assert answer.status_code == 404
    assert answer.json()["error"]["message"] == "Invalid URL (GET /v1/models)"
    assert len(fake.responses_requests) == 2


def _settles(condition: Callable[[], bool], seconds: float = 5) -> bool:
    """Whether ``condition`` holds within ``seconds``. The fake books a request's end after
    writing its answer, which the client may have read (and returned from) a moment before."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_concurrency_accounting(fake: FakeOpenAIServer) -> None:
    fake.latency = 0.2
    client = make_client(fake)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: client.responses.create(**create_kwargs()), range(4)))
    assert all(r.status == "completed" for r in results)
    assert fake.max_in_flight == 4
    assert _settles(lambda: fake.in_flight == 0)

    fake.reset()
    cap = threading.Semaphore(2)

    def capped(_: int) -> Response:
        with cap:
            response: Response = client.responses.create(**create_kwargs())
        return response

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(capped, range(4)))
    assert fake.max_in_flight == 2


def test_stop_is_prompt_while_a_request_sleeps() -> None:
    fake = FakeOpenAIServer(api_key=API_KEY).start()
    fake.enqueue(Fault.timeout(30))
    client = make_client(fake, timeout=10)
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            client.responses.create(**create_kwargs())
        except openai.APIConnectionError as error:
            outcome.append(error)

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    deadline = time.monotonic() + 2
    while fake.in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 2
    worker.join(5)
    assert outcome and isinstance(outcome[0], openai.APIConnectionError)


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
    started = time.monotonic()
    # requests reports a read timeout inside the body as ConnectionError.
    with pytest.raises(requests.ConnectionError):
        requests.get(images.url("/slow-body.png"), timeout=0.2)
    with pytest.raises(requests.ReadTimeout):
        requests.get(images.url("/slow-head.png"), timeout=0.2)
    assert time.monotonic() - started < 1.5


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
    time.sleep(0.1)
    started = time.monotonic()
    images.stop()
    assert time.monotonic() - started < 2
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
    client = make_client(fake)
    started = time.monotonic()
    client.responses.create(**create_kwargs())
    client.responses.create(**create_kwargs())
    elapsed = time.monotonic() - started
    assert _settles(lambda: len(fake.handled_seconds) == 2)
    handled = fake.handled_seconds
    assert len(handled) == 2
    assert all(seconds >= 0.3 for seconds in handled)
    assert elapsed >= 0.6
    fake.reset()
    assert fake.handled_seconds == []


def test_fake_servers_send_without_nagle_delay(fake: FakeOpenAIServer) -> None:
    # Headers and body are two writes; with Nagle on, a short body waited ~40 ms for the
    # client's delayed ACK on every answer, a stall the real API does not have.
    client = openai.OpenAI(api_key="sk-test", base_url=fake.base_url, max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.responses.create(model="gpt-4.1", input="hi")
    sockets = list(fake._connections)
    assert sockets, "the fake should still hold the keep-alive connection"
    assert all(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in sockets)
