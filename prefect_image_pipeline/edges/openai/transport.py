"""The OpenAI client's HTTP transport: each request paced (pacing.schedule) and held at the
shared 429 gate (pacing.cooldown), which every 429 closes for its Retry-After."""

from __future__ import annotations

from typing import Any

import httpx2

from prefect_image_pipeline.pacing.cooldown import CooldownGate, openai_gate, retry_after_seconds
from prefect_image_pipeline.pacing.schedule import request_slot


class GatedTransport(httpx2.HTTPTransport):
    """The OpenAI client's transport: every request, first try or the client's own retry,
    waits at the gate, and every 429 closes the gate for everyone for its Retry-After."""

    def __init__(self, gate: CooldownGate = openai_gate, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate = gate

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        with request_slot():
            self.gate.wait()
            response = super().handle_request(request)
            response.read()  # the whole answer arrives inside the slot (we never stream)
        if response.status_code == 429:
            self.gate.rate_limited(retry_after_seconds(response.headers))
        return response
