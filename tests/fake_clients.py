"""Clients and fixtures for the tests of the fakes themselves (tests/integration/test_fake_*.py)."""

from __future__ import annotations

import base64
import io
from typing import Any

import openai
from PIL import Image

from prefect_image_pipeline.options.generation import GenerationOptions
from tests.fakes.openai_server import FakeOpenAIServer

API_KEY = "sk-test-0123456789"
# Options for tests of a bare generator (no cut-out wrapper): an image model that makes
# a transparent background itself, so the fake's refusal of the default model stays out.
NATIVE_TRANSPARENCY = GenerationOptions(image_model="gpt-image-1.5")


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
        content.append({"type": "input_image", "image_url": image_url, "detail": "high"})
    return {
        "model": "gpt-5",
        "input": [{"role": "user", "content": content}],
        "tools": [
            {
                "type": "image_generation",
                "model": "gpt-image-1.5",
                "background": "transparent",
                "quality": "high",
            }
        ],
        "tool_choice": {"type": "image_generation"},
    }


_open_clients: list[openai.OpenAI] = []


def close_open_clients() -> None:
    """Close every client make_client built (the close_clients fixture calls this)."""
    while _open_clients:
        _open_clients.pop().close()


def make_client(fake: FakeOpenAIServer, **options: Any) -> openai.OpenAI:
    options.setdefault("max_retries", 0)
    options.setdefault("api_key", API_KEY)
    client = openai.OpenAI(base_url=fake.base_url, **options)
    _open_clients.append(client)
    return client
