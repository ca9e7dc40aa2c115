"""The fake OpenAI server speaks the real protocol: driven by the real openai client."""

from __future__ import annotations

import base64
import io
import itertools
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
import requests
from openai.types.responses import Response
from PIL import Image

from tests.fake_clients import (
    API_KEY,
    create_kwargs,
    data_url,
    make_client,
    png_bytes,
)
from tests.fakes.openai_server import FakeOpenAIServer, Fault

# Every client a test makes is closed after it (tests/conftest.py: close_clients).
pytestmark = pytest.mark.usefixtures("close_clients")

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
    fake.enqueue(*[Fault.rate_limit(0.01)] * 3)
    with pytest.raises(openai.RateLimitError):
        client.responses.create(**create_kwargs())
    attempts = fake.responses_requests
    assert len(attempts) == client.max_retries + 1
    assert [r.headers["x-stainless-retry-count"] for r in attempts] == ["0", "1", "2"]
    # By the fake's arrival times, each retry waited the 10 ms retry-after-ms asked for,
    # not the client's own backoff (at least 0.375 s, then 0.75 s).
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(attempts)]
    assert all(0.01 <= gap < 0.375 for gap in gaps), gaps

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
    with pytest.raises(openai.APITimeoutError):
        client.responses.create(**create_kwargs())
    # The client gave up while the fake was still holding the answer back.
    assert (fake.in_flight, fake.handled_seconds) == (1, [])
    with pytest.raises(openai.APIConnectionError) as reset:
        client.responses.create(**create_kwargs())
    assert not isinstance(reset.value, openai.APITimeoutError)
    # A delay shorter than the client timeout still succeeds, once the delay is over.
    fake.enqueue(Fault.timeout(0.05))
    assert client.responses.create(**create_kwargs()).status == "completed"
    # Booked: the reset and the short delay (the 1 s one may still be sleeping).
    assert fake.wait_until(lambda: len(fake.handled_seconds) >= 2)
    assert max(fake.handled_seconds) >= 0.05


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


def test_concurrency_accounting(fake: FakeOpenAIServer) -> None:
    fake.latency = 0.2
    client = make_client(fake)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: client.responses.create(**create_kwargs()), range(4)))
    assert all(r.status == "completed" for r in results)
    assert fake.max_in_flight == 4
    # The fake books a request's end after writing its answer, which the client may have
    # read (and returned from) a moment before.
    assert fake.wait_until(lambda: fake.in_flight == 0)

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
    assert fake.wait_until(lambda: fake.in_flight == 1)
    fake.stop()
    # stop() returns once the handlers have finished, or once its join budget is spent:
    # a handler still sleeping out the 30 s fault would be in flight and connected.
    assert (fake.in_flight, fake.open_connections) == (0, 0)
    [handled] = fake.handled_seconds
    assert handled < 30
    worker.join(5)
    assert outcome and isinstance(outcome[0], openai.APIConnectionError)


# ---------------------------------------------------------------------------
# FakeOpenAIServer: what each image model refuses (tests/fakes/openai_models.py)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "param", "message"),
    [
        ({}, "background", "Transparent background is not supported for this model."),
        ({"model": "gpt-image-2"}, "background", "Transparent background is not supported"),
        (
            {"model": "gpt-image-2", "background": "opaque", "input_fidelity": "low"},
            "input_fidelity",
            "'input_fidelity'",
        ),
        (
            {"input_fidelity": "high", "model": "gpt-image-1-mini"},
            "input_fidelity",
            "gpt-image-1-mini",
        ),
        ({"quality": "xhigh", "background": "opaque"}, "quality", "Invalid value: 'xhigh'"),
        ({"size": "1536x864", "background": "opaque"}, "size", "Invalid value: '1536x864'"),
    ],
)
def test_each_model_refuses_what_openai_refuses(
    fake: FakeOpenAIServer, tool: dict[str, str], param: str, message: str
) -> None:
    kwargs = create_kwargs(data_url(png_bytes()))
    kwargs["tools"][0].pop("model")  # the tool's default model, unless the case names one
    kwargs["tools"][0].update(tool)
    with pytest.raises(openai.BadRequestError) as refused:
        make_client(fake).responses.create(**kwargs)
    assert refused.value.param == f"tools[0].{param}"
    assert refused.value.code in ("invalid_value", "unsupported_parameter")
    assert message in refused.value.message


def test_a_model_takes_what_it_supports(fake: FakeOpenAIServer) -> None:
    kwargs = create_kwargs(data_url(png_bytes()))
    kwargs["tools"][0].update(input_fidelity="high")  # gpt-image-1.5: high and low
    assert make_client(fake).responses.create(**kwargs).output[0].type == "image_generation_call"
    kwargs["tools"][0].update(model="gpt-image-2.5-flare", background="opaque", quality="max")
    kwargs["tools"][0].pop("input_fidelity")
    kwargs["tools"][0]["size"] = "1536x864"
    assert make_client(fake).responses.create(**kwargs).output[0].type == "image_generation_call"
