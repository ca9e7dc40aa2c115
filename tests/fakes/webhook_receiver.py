"""A loopback receiver of webhooks: records every POST, answers as a test scripts it.

Plays the platform's endpoint for callbacks (announce.callbacks) and for the Prefect
automation that calls a webhook. ``answer()`` scripts the statuses (and headers) of the
next POSTs (e.g. ``answer(503, 503)``, then 200 by default); ``hold()`` keeps handlers
waiting until ``release()``, so a test can show the sender never waits on a slow receiver;
``arrived`` counts POSTs as they come in, answered or not.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from .loopback import LoopbackHandler, LoopbackServer

__all__ = ["ReceivedPost", "WebhookReceiver"]


@dataclass(frozen=True)
class ReceivedPost:
    """One POST as it arrived: path, headers (lower-case names), raw body, our answer."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class _Handler(LoopbackHandler):
    def do_POST(self) -> None:
        receiver: WebhookReceiver = self.owner  # type: ignore[assignment]
        body = self.read_body()
        receiver._arrive()
        receiver.released.wait(timeout=60)
        status, extra = receiver._next_answer()
        headers = {name.lower(): value for name, value in self.headers.items()}
        receiver._record(ReceivedPost(self.path, headers, body, status))
        body_out = b'{"ok": true}' if status < 300 else b"{}"
        self.send_bytes(status, body_out, "application/json", extra)


class WebhookReceiver(LoopbackServer):
    """Records POSTs on 127.0.0.1; answers 200 unless ``answers`` says otherwise."""

    handler_class = _Handler

    def __init__(self) -> None:
        super().__init__()
        self._guard = threading.Lock()
        self._answers: list[tuple[int, dict[str, str]]] = []
        self._posts: list[ReceivedPost] = []
        self._arrived = 0
        self.released = threading.Event()
        self.released.set()

    def url(self, path: str = "/hook") -> str:
        """The URL a sender posts to."""
        return self.origin + path

    def answer(self, *statuses: int, headers: dict[str, str] | None = None) -> None:
        """The statuses of the next POSTs, in order, each with ``headers``; 200 after them."""
        with self._guard:
            self._answers.extend((status, dict(headers or {})) for status in statuses)

    def hold(self) -> None:
        """Keep every POST waiting (unanswered) until release()."""
        self.released.clear()

    def release(self) -> None:
        """Answer the held POSTs and the next ones at once."""
        self.released.set()

    @property
    def arrived(self) -> int:
        """POSTs received so far, including those still held or whose sender hung up."""
        with self._guard:
            return self._arrived

    @property
    def posts(self) -> list[ReceivedPost]:
        """Every POST answered so far, in order."""
        with self._guard:
            return list(self._posts)

    def delivered(self) -> list[ReceivedPost]:
        """The POSTs answered with a 2xx."""
        return [post for post in self.posts if 200 <= post.status < 300]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedPost]:
        """Wait until ``count`` POSTs were answered with a 2xx; returns them all."""
        if not self.wait_until(lambda: len(self.delivered()) >= count, timeout):
            raise AssertionError(f"expected {count} delivered POSTs, got {self.posts!r}")
        return self.delivered()

    def _next_answer(self) -> tuple[int, dict[str, str]]:
        with self._guard:
            return self._answers.pop(0) if self._answers else (200, {})

    def _arrive(self) -> None:
        with self._guard:
            self._arrived += 1
        self._notify()

    def _record(self, post: ReceivedPost) -> None:
        with self._guard:
            self._posts.append(post)
        self._notify()

    def stop(self) -> None:
        """Release held POSTs, then stop."""
        self.released.set()
        super().stop()
