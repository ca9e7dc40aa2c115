"""The fake OpenAI server refuses bodies the openai SDK's types do not allow, and answers like the API."""

from __future__ import annotations

import base64
import io
from typing import Any

import openai
import pytest
from openai.types.responses import Response
from openai.types.responses.response import ToolUsageImageGen
from PIL import Image

from tests.fake_clients import (
    create_kwargs,
    data_url,
    make_client,
    png_bytes,
)
from tests.fakes.openai_server import FakeOpenAIServer, Fault
from tests.fakes.openai_spec import check_request

# Every client a test makes is closed after it (tests/conftest.py: close_clients).
pytestmark = pytest.mark.usefixtures("close_clients")

# ---------------------------------------------------------------------------
# FakeOpenAIServer: bodies checked against the openai SDK's request types
# ---------------------------------------------------------------------------


def _full_kwargs() -> dict[str, Any]:
    """The pipeline's request with every optional tool field it may send."""
    kwargs = create_kwargs(data_url(png_bytes()))
    kwargs["tools"][0] |= {
        "output_format": "webp",
        "model": "gpt-image-1.5",
        "size": "1536x1024",
        "output_compression": 80,
        "input_fidelity": "high",
        "moderation": "low",
        "action": "edit",
    }
    return kwargs


def _drop_detail(kwargs: dict[str, Any]) -> None:
    del kwargs["input"][0]["content"][1]["detail"]


@pytest.mark.parametrize(
    ("change", "param", "code"),
    [
        (lambda k: k.update(extra_body={"seed": 7}), "seed", "unknown_parameter"),
        (
            lambda k: k["input"][0]["content"][1].update(mask="x"),
            "input[0].content[1].mask",
            "unknown_parameter",
        ),
        (lambda k: k["tools"][0].update(n=2), "tools[0].n", "unknown_parameter"),
        (lambda k: k["tools"][0].update(quality="ultra"), "tools[0].quality", "invalid_value"),
        (_drop_detail, "input[0].content[1].detail", "missing_required_parameter"),
        (lambda k: k.update(tool_choice="image_generation"), "tool_choice", "invalid_value"),
        (
            lambda k: k["tools"][0].update(output_compression="80"),
            "tools[0].output_compression",
            "invalid_type",
        ),
    ],
)
def test_a_body_breaking_the_sdk_types_is_refused(
    fake: FakeOpenAIServer, change: Any, param: str, code: str
) -> None:
    kwargs = _full_kwargs()
    change(kwargs)
    fake.enqueue(Fault.server_error())  # a refused body never reaches the fault queue
    with pytest.raises(openai.BadRequestError) as caught:
        make_client(fake).responses.create(**kwargs)
    error = caught.value
    assert (error.status_code, error.param, error.code) == (400, param, code)
    assert error.type == "invalid_request_error"
    assert isinstance(error.body, dict) and error.body["message"].startswith(f"{param}: ")
    assert [e.param for e in fake.spec_errors] == [param]
    [recorded] = fake.responses_requests
    assert recorded.spec_error == fake.spec_errors[0]
    assert fake.pending_faults == 1
    fake.reset()
    assert fake.spec_errors == []


def test_valid_bodies_pass_and_raw_posts_are_checked_too(fake: FakeOpenAIServer) -> None:
    client = make_client(fake)
    for kwargs in (_full_kwargs(), create_kwargs(), {"model": "gpt-5", "input": "hi"}):
        assert client.responses.create(**kwargs).status == "completed"
    assert fake.spec_errors == []
    assert all(r.spec_error is None for r in fake.responses_requests)

    # A raw post skips the SDK's typing entirely; the fake still checks every level.
    body = _full_kwargs()
    body["input"][0]["content"][0]["text"] = 42
    with pytest.raises(openai.BadRequestError) as caught:
        client.post("/responses", body=body, cast_to=Response)
    assert caught.value.param == "input[0].content[0].text"
    assert caught.value.message.endswith("expected a string, got an integer")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"tool_choice": {"type": "image_gen"}},
            "tool_choice.type: invalid value 'image_gen'; expected one of 'allowed_tools'",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "detail": "max"}]}]},
            "input[0].content[0].detail: invalid value 'max'; expected one of 'low', 'high', "
            "'auto', 'original'",
        ),
        ({"input": [{"role": "robot", "content": "hi"}]}, "input[0].role: invalid value 'robot'"),
        ({"tools": [{"quality": "high"}]}, "tools[0].type: missing required parameter"),
        ({"temperature": True}, "temperature: expected a number or null, got a boolean"),
        ({"metadata": {"run": 1}}, "metadata.run: expected a string, got an integer"),
        ({"stream": True}, "stream: invalid value True; expected one of False or null"),
    ],
)
def test_check_request_names_the_path_and_the_problem(body: dict[str, Any], message: str) -> None:
    error = check_request({"model": "gpt-5", **body})
    assert error is not None
    assert error.message.startswith(message)
    assert check_request({"model": "gpt-5", "temperature": 1, "tool_choice": "required"}) is None


# ---------------------------------------------------------------------------
# FakeOpenAIServer: the generated image, tool usage, unreachable reference URLs
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output_format", "size", "pil_format", "mode"),
    [
        ("png", "64x32", "PNG", "RGBA"),
        ("webp", "32x48", "WEBP", "RGBA"),
        ("jpeg", "64x32", "JPEG", "RGB"),
        ("jpeg", None, "JPEG", "RGB"),
    ],
)
def test_the_image_honours_output_format_and_size(
    fake: FakeOpenAIServer, output_format: str, size: str | None, pil_format: str, mode: str
) -> None:
    kwargs = create_kwargs(data_url(png_bytes((8, 6))))
    kwargs["tools"][0]["output_format"] = output_format
    # A model that makes any WIDTHxHEIGHT; it refuses transparency, so the background is auto.
    kwargs["tools"][0].update(model="gpt-image-2.5-sunburst", background="auto")
    if size is not None:
        kwargs["tools"][0]["size"] = size
    client = make_client(fake)
    call = client.responses.create(**kwargs).output[0]
    assert call.type == "image_generation_call" and call.result is not None
    assert call.output_format == output_format
    image = Image.open(io.BytesIO(base64.b64decode(call.result)))
    width, height = map(int, size.split("x")) if size else (8, 6)
    assert (image.format, image.mode, image.size) == (pil_format, mode, (width, height))
    # The 8x6 input scaled to fit and centred: red in the middle, the margin transparent
    # (white once flattened for jpeg).
    red = image.convert("RGBA").getpixel((width // 2, height // 2))
    assert isinstance(red, tuple) and red[0] > 180 and red[1] < 60 and red[3] == 255
    if size is not None:
        corner = image.convert("RGBA").getpixel((0, 0))
        assert corner == ((255, 255, 255, 255) if mode == "RGB" else (0, 0, 0, 0))
    again = client.responses.create(**kwargs).output[0]
    assert again.type == "image_generation_call" and again.result == call.result


@pytest.mark.parametrize(
    ("quality", "size", "output_tokens"),
    [("low", None, 272), ("medium", "1024x1024", 1056), ("high", "1536x1024", 6240)],
)
def test_tool_usage_is_reported_and_parsed_by_the_sdk(
    fake: FakeOpenAIServer, quality: str, size: str | None, output_tokens: int
) -> None:
    kwargs = create_kwargs(data_url(png_bytes()), text="Recreate it.")
    kwargs["input"][0]["content"].append(dict(kwargs["input"][0]["content"][1]))
    kwargs["tools"][0]["quality"] = quality
    if size is not None:
        kwargs["tools"][0]["size"] = size
    response = make_client(fake, _strict_response_validation=True).responses.create(**kwargs)
    assert response.usage is not None and response.usage.total_tokens > 0
    assert response.tool_usage is not None
    usage = response.tool_usage.image_gen
    assert isinstance(usage, ToolUsageImageGen)
    assert usage.input_tokens_details.image_tokens == 2 * 258
    assert usage.input_tokens_details.text_tokens == 3  # "Recreate it." is 12 characters
    assert usage.input_tokens == 2 * 258 + 3
    assert usage.output_tokens_details is not None
    assert (usage.output_tokens_details.image_tokens, usage.output_tokens_details.text_tokens) == (
        output_tokens,
        0,
    )
    assert usage.output_tokens == output_tokens
    assert usage.total_tokens == usage.input_tokens + output_tokens

    fake.enqueue(Fault.no_image())
    text = make_client(fake).responses.create(**kwargs)
    assert text.tool_usage is not None and text.tool_usage.image_gen.total_tokens == 0


def test_image_url_unreachable_names_the_first_remote_url(fake: FakeOpenAIServer) -> None:
    kwargs = create_kwargs(data_url(png_bytes()))
    parts = kwargs["input"][0]["content"]
    for url in ("https://cdn.example/a.png", "http://cdn.example/b.png"):
        parts.append({"type": "input_image", "image_url": url, "detail": "auto"})
    fake.enqueue(Fault.image_url_unreachable(), Fault.image_url_unreachable())
    client = make_client(fake)
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(**kwargs)
    assert caught.value.body == {
        "message": "Error while downloading https://cdn.example/a.png.",
        "type": "invalid_request_error",
        "param": "url",
        "code": "invalid_image_url",
    }
    # Only data URLs: nothing to download, so a normal answer (the fault is spent).
    answer = client.responses.create(**create_kwargs(data_url(png_bytes())))
    assert answer.output[0].type == "image_generation_call"
    assert fake.pending_faults == 0
