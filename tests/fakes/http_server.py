"""Loopback HTTP server that serves registered bytes, for image-URL tests.

The server plumbing it shares with the other fakes lives in ``loopback``
(``LoopbackServer``, ``LoopbackHandler``, re-exported here); the routes and the
handler that plays them out live in ``image_routes``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit

from .image_routes import _TINY_PNG, ServedRequest, _ImageHandler, _normalise, _Route
from .loopback import LoopbackHandler, LoopbackServer

__all__ = ["ImageHTTPServer", "LoopbackHandler", "LoopbackServer", "ServedRequest"]


class ImageHTTPServer(LoopbackServer):
    """Serves registered bytes (and misbehaviours) on 127.0.0.1 for image-URL tests.

    Example::

        with ImageHTTPServer() as images:
            url = images.add("/cat.png", png_bytes)
            images.stall("/slow.png", 5.0)
    """

    handler_class = _ImageHandler

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._routes: dict[str, _Route] = {}
        self._history: list[ServedRequest] = []

    # -- registration --------------------------------------------------------

    def url(self, path: str) -> str:
        """Full URL for ``path`` on this server."""
        return self.origin + _normalise(path)

    def add(
        self,
        path: str,
        body: bytes,
        content_type: str = "image/png",
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """Serve ``body`` at ``path``; returns the URL."""
        return self._register(
            path,
            _Route(
                "serve",
                status=status,
                body=body,
                content_type=content_type,
                headers=tuple((headers or {}).items()),
            ),
        )

    def redirect(self, path: str, to_url: str, status: int = 302) -> str:
        """Answer ``path`` with a redirect to ``to_url``; returns the URL."""
        return self._register(path, _Route("redirect", status=status, location=to_url))

    def stall(
        self,
        path: str,
        seconds: float,
        body: bytes | None = None,
        content_type: str = "image/png",
        *,
        phase: Literal["body", "headers"] = "body",
    ) -> str:
        """Wait ``seconds`` before the body (default) or before the headers.

        The body defaults to whatever ``path`` served before, else a 1x1 PNG.
        A body stall surfaces in ``requests`` as ConnectionError (read timeout
        while reading the body); a header stall as ``requests.ReadTimeout``.
        """
        if body is None:
            with self._lock:
                previous = self._routes.get(_normalise(path))
            body = previous.body if previous is not None and previous.body else _TINY_PNG
        return self._register(
            path,
            _Route(
                "stall",
                body=body,
                content_type=content_type,
                seconds=seconds,
                stall_phase=phase,
            ),
        )

    def reset(self, path: str) -> str:
        """Drop the connection (TCP reset) without any response."""
        return self._register(path, _Route("reset"))

    def endless(self, path: str, content_type: str = "image/png") -> str:
        """Stream chunked bytes until the client disconnects or stop() is called."""
        return self._register(path, _Route("endless", content_type=content_type))

    def lying_length(
        self,
        path: str,
        body: bytes,
        claimed_length: int,
        content_type: str = "image/png",
    ) -> str:
        """Claim ``claimed_length`` bytes in Content-Length, send ``body``, then close."""
        return self._register(
            path,
            _Route(
                "lying_length",
                body=body,
                content_type=content_type,
                claimed_length=claimed_length,
            ),
        )

    # -- inspection ----------------------------------------------------------

    @property
    def history(self) -> list[ServedRequest]:
        """Snapshot of the requests received so far, oldest first."""
        with self._lock:
            return list(self._history)

    def request_count(self, path: str) -> int:
        """Requests for ``path`` (query strings ignored unless ``path`` has one)."""
        wanted = _normalise(path)
        with self._lock:
            if "?" in wanted:
                return sum(1 for r in self._history if r.path == wanted)
            return sum(1 for r in self._history if urlsplit(r.path).path == wanted)

    def clear(self) -> None:
        """Forget history and all registered routes."""
        with self._lock:
            self._history.clear()
            self._routes.clear()

    # -- internals -----------------------------------------------------------

    def _register(self, path: str, route: _Route) -> str:
        with self._lock:
            self._routes[_normalise(path)] = route
        return self.url(path)

    def _record(self, request: ServedRequest) -> None:
        with self._lock:
            self._history.append(request)
        self._notify()

    def _lookup(self, raw_path: str) -> _Route | None:
        with self._lock:
            route = self._routes.get(raw_path)
            if route is None:
                route = self._routes.get(urlsplit(raw_path).path)
            return route
