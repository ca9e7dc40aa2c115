"""The OpenAI client as production builds it: insufficient_quota is not retried, rate limits are."""

from __future__ import annotations

import openai
import pytest

from prefect_image_pipeline.edges.openai.client import openai_client_from_env
from prefect_image_pipeline.errors import ImageGenerationError, is_transient
from prefect_image_pipeline.steps.encode import encode_image
from prefect_image_pipeline.steps.generate import OpenAIImageGenerator
from tests.fake_clients import NATIVE_TRANSPARENCY
from tests.fakes.openai_server import FakeOpenAIServer, Fault
from tests.images import logo


def _generator_without_the_hook(fake: FakeOpenAIServer) -> OpenAIImageGenerator:
    return OpenAIImageGenerator(
        openai.OpenAI(api_key=fake.api_key, base_url=fake.base_url, max_retries=2)
    )


def test_without_the_hook_the_sdk_retries_an_empty_account(openai_fake: FakeOpenAIServer) -> None:
    """Why the hook exists: the SDK treats every 429 alike."""
    openai_fake.enqueue(*[Fault.insufficient_quota()] * 3)
    with pytest.raises(ImageGenerationError, match="insufficient_quota"):
        _generator_without_the_hook(openai_fake).generate(encode_image(logo()), NATIVE_TRANSPARENCY)
    assert len(openai_fake.responses_requests) == 3


def test_with_the_hook_an_empty_account_is_asked_once(openai_fake: FakeOpenAIServer) -> None:
    openai_fake.enqueue(*[Fault.insufficient_quota()] * 3)
    generator = OpenAIImageGenerator(openai_client_from_env())
    with pytest.raises(ImageGenerationError, match="insufficient_quota") as caught:
        generator.generate(encode_image(logo()), NATIVE_TRANSPARENCY)
    assert len(openai_fake.responses_requests) == 1
    assert not is_transient(caught.value)


def test_with_the_hook_rate_limits_and_server_errors_are_still_retried(
    openai_fake: FakeOpenAIServer,
) -> None:
    openai_fake.enqueue(Fault.rate_limit(retry_after=0.01), Fault.server_error(503))
    generator = OpenAIImageGenerator(openai_client_from_env())
    generated = generator.generate(encode_image(logo()), NATIVE_TRANSPARENCY)
    assert generated.png.startswith(b"\x89PNG")
    assert len(openai_fake.responses_requests) == 3
