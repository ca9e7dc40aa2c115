"""Step 3: the Responses API call, driven through the real openai client against our fake."""

from __future__ import annotations

import openai
import pytest

from prefect_image_pipeline.edges.openai.client import openai_client_from_env
from prefect_image_pipeline.edges.openai.transport import GatedTransport
from prefect_image_pipeline.errors import (
    ImageGenerationError,
    MissingCredentialsError,
    is_transient,
)
from prefect_image_pipeline.image_processing_utils import process_image_with_openai
from prefect_image_pipeline.options.generation import GenerationOptions
from prefect_image_pipeline.pacing.cooldown import CooldownGate
from prefect_image_pipeline.settings.config import DEFAULT_PROMPT
from prefect_image_pipeline.steps.encode import encode_image
from prefect_image_pipeline.steps.generate import OpenAIImageGenerator, responses_arguments
from tests.clock import ManualClock
from tests.fake_clients import NATIVE_TRANSPARENCY
from tests.fakes.openai_server import FakeOpenAIServer, Fault
from tests.images import logo, open_image


def _client(fake: FakeOpenAIServer, max_retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(
        api_key="sk-test-canary-0123456789abcdef", base_url=fake.base_url, max_retries=max_retries
    )


def test_request_has_one_user_message_and_forces_the_tool() -> None:
    request = responses_arguments(encode_image(logo(fmt="JPEG")), GenerationOptions())
    assert request["model"] == "gpt-5"
    content = request["input"][0]["content"]
    assert request["input"][0]["role"] == "user"
    assert content[0] == {"type": "input_text", "text": DEFAULT_PROMPT}
    assert content[1]["type"] == "input_image"
    assert content[1]["image_url"].startswith("data:image/jpeg;base64,")
    assert request["tools"] == [
        {
            "type": "image_generation",
            "background": "transparent",
            "quality": "high",
            "output_format": "png",
        }
    ]
    assert request["tool_choice"] == {"type": "image_generation"}


def test_default_prompt_is_the_recreation_prompt() -> None:
    assert DEFAULT_PROMPT == "Recreate this image exactly as a high-resolution transparent PNG."
    assert GenerationOptions(prompt="  ").effective_prompt == DEFAULT_PROMPT
    assert GenerationOptions(prompt="Make it blue").effective_prompt == "Make it blue"


def test_process_image_with_openai_returns_the_generated_png(openai_fake: FakeOpenAIServer) -> None:
    source = logo(size=(64, 48), fmt="JPEG")
    png = process_image_with_openai(
        source, prompt="Make it vibrant", model="gpt-image-test", background="opaque", quality="low"
    )
    assert png.startswith(b"\x89PNG")
    assert open_image(png).size == (64, 48)  # the fake echoes the input image back as PNG
    (request,) = openai_fake.responses_requests
    assert request.json["model"] == "gpt-image-test"
    assert request.prompt == "Make it vibrant"
    assert request.input_images[0].startswith("data:image/jpeg;base64,")
    assert request.json["tools"][0]["background"] == "opaque"
    assert request.json["tools"][0]["quality"] == "low"
    assert request.headers["authorization"] == "Bearer sk-test-canary-0123456789abcdef"


def test_empty_bytes_never_reach_openai(openai_fake: FakeOpenAIServer) -> None:
    with pytest.raises(ValueError, match="cannot be empty"):
        process_image_with_openai(b"")
    with pytest.raises(ValueError, match="Not a supported image"):
        process_image_with_openai(b"definitely not an image")
    assert openai_fake.responses_requests == []


def test_missing_key_names_the_variable_and_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(MissingCredentialsError, match="OPENAI_API_KEY") as caught:
        openai_client_from_env()
    assert "--offline" in str(caught.value)


def test_usage_and_response_id_are_recorded(openai_fake: FakeOpenAIServer) -> None:
    generated = OpenAIImageGenerator(_client(openai_fake)).generate(
        encode_image(logo()), NATIVE_TRANSPARENCY
    )
    assert generated.response_id and generated.response_id.startswith("resp_")
    assert generated.usage is not None and generated.usage.total_tokens > 0
    # The PNG bytes stay out of logs. (Not `"b'" not in repr`: a hex id ending in "b"
    # followed by its closing quote matched that one time in sixteen.)
    text = repr(generated)
    assert generated.png.startswith(b"\x89PNG") and "\\x89PNG" not in text
    assert "png=" not in text


@pytest.mark.parametrize(
    ("fault", "message", "transient"),
    [
        (Fault.no_image(), "No generated image returned from OpenAI (response resp_", False),
        (Fault.failed_call(), "No generated image returned from OpenAI (response resp_", False),
        (Fault.moderation_blocked(), "moderation_blocked", False),
        (Fault.transparent_unsupported(), "--background opaque", False),
        (Fault.unauthorized(), "OPENAI_API_KEY", False),
        (Fault.forbidden(), "403", False),
        (Fault.not_found(), "--model", False),
        (Fault.insufficient_quota(), "insufficient_quota", False),
        (Fault.rate_limit(retry_after=0.01), "rate limit", True),
        (Fault.server_error(503), "server error (503)", True),
        (Fault.malformed(), "Malformed", False),
    ],
)
def test_failures_are_classified_and_explained(
    openai_fake: FakeOpenAIServer, fault: Fault, message: str, transient: bool
) -> None:
    openai_fake.enqueue(fault)
    generator = OpenAIImageGenerator(_client(openai_fake))
    with pytest.raises(ImageGenerationError) as caught:
        generator.generate(encode_image(logo()), NATIVE_TRANSPARENCY)
    assert message in str(caught.value)
    assert is_transient(caught.value) is transient
    assert len(openai_fake.responses_requests) == 1


def test_timeouts_and_resets_are_transient(openai_fake: FakeOpenAIServer) -> None:
    client = openai.OpenAI(
        api_key="sk-test-canary-0123456789abcdef",
        base_url=openai_fake.base_url,
        max_retries=0,
        timeout=0.3,
    )
    generator = OpenAIImageGenerator(client)
    openai_fake.enqueue(Fault.timeout(2.0), Fault.connection_reset())
    for expected in ("timed out", "connection error"):
        with pytest.raises(ImageGenerationError, match=expected) as caught:
            generator.generate(encode_image(logo()), NATIVE_TRANSPARENCY)
        assert caught.value.transient


def test_client_retries_layer_under_ours(openai_fake: FakeOpenAIServer) -> None:
    """The openai client's own retries (max_retries=2) absorb two 429s with Retry-After."""
    openai_fake.enqueue(Fault.rate_limit(retry_after=0.01), Fault.rate_limit(retry_after=0.01))
    png = process_image_with_openai(logo())
    assert png.startswith(b"\x89PNG")
    assert len(openai_fake.responses_requests) == 3


def test_a_429_closes_the_shared_gate_for_every_request(openai_fake: FakeOpenAIServer) -> None:
    """The client's own retry of a 429 waits at the gate for the Retry-After."""
    clock = ManualClock()
    gate = CooldownGate(clock=clock, sleep=clock.sleep)
    client = openai.OpenAI(
        api_key="sk-test-canary-0123456789abcdef",
        base_url=openai_fake.base_url,
        max_retries=1,
        http_client=openai.DefaultHttpxClient(transport=GatedTransport(gate)),
    )
    openai_fake.enqueue(Fault.rate_limit(retry_after=0.6))
    OpenAIImageGenerator(client).generate(encode_image(logo()), NATIVE_TRANSPARENCY)
    assert clock.slept == [0.6]  # the retry waited out the Retry-After at the gate
    assert len(openai_fake.responses_requests) == 2


def test_gate_defers_to_the_longest_request_and_opens_after() -> None:
    clock = ManualClock()
    gate = CooldownGate(clock=clock, sleep=clock.sleep)
    gate.defer(0.3)
    clock.now += 0.1
    gate.defer(0.1)  # a shorter request never shortens the wait
    assert gate.remaining() == pytest.approx(0.2)
    assert gate.wait() == pytest.approx(0.2) and gate.remaining() == 0
    assert clock.slept == [pytest.approx(0.2)]
    gate.defer(10_000)
    assert gate.remaining() <= 120  # capped like the openai client's own limit
