"""What ImageHTTPServer serves: its routes, the request record and the handler.

A ``_Route`` says how one path answers: ``serve`` registered bytes, ``redirect``,
``stall`` before the headers or the body, ``reset`` the connection, stream
``endless`` chunked bytes, or send a ``lying_length`` Content-Length and hang up.
``_ImageHandler`` carries each behaviour out on the wire.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple, cast

from PIL import Image

from .loopback import LoopbackHandler

if TYPE_CHECKING:
    from .http_server import ImageHTTPServer

__all__ = ["Behaviour", "ServedRequest"]


def _tiny_png() -> bytes:
    """A valid 1x1 transparent PNG, for misbehaving routes that need some body."""
    buffer = io.BytesIO()
    Image.new("RGBA", (1, 1)).save(buffer, format="PNG")
    return buffer.getvalue()


_TINY_PNG = _tiny_png()

Behaviour = Literal["serve", "redirect", "stall", "reset", "endless", "lying_length"]


@dataclass(frozen=True)
class _Route:
    behaviour: Behaviour
    status: int = 200
    body: bytes = b""
    content_type: str = "image/png"
    headers: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0
    stall_phase: Literal["body", "headers"] = "body"
    claimed_length: int = 0
    location: str = ""


class ServedRequest(NamedTuple):
    """One request seen by ImageHTTPServer (no body is kept)."""

    method: str
    path: str
    headers: dict[str, str]


class _ImageHandler(LoopbackHandler):
    def do_GET(self) -> None:
        self._dispatch(head_only=False)

    def do_HEAD(self) -> None:
        self._dispatch(head_only=True)

    def _dispatch(self, *, head_only: bool) -> None:
        server = cast("ImageHTTPServer", self.server.owner)
        server._record(
            ServedRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
        )
        route = server._lookup(self.path)
        if route is None:
            self.send_bytes(404, b"not found\n", "text/plain; charset=utf-8", head_only=head_only)
            return
        if route.behaviour == "serve":
            self.send_bytes(
                route.status,
                route.body,
                route.content_type,
                dict(route.headers),
                head_only=head_only,
            )
        elif route.behaviour == "redirect":
            self.send_bytes(route.status, b"", "text/plain", {"Location": route.location})
        elif route.behaviour == "reset":
            self.abort_connection()
        elif route.behaviour == "stall":
            self._stall(route, server, head_only=head_only)
        elif route.behaviour == "endless":
            self._endless(route, server, head_only=head_only)
        elif route.behaviour == "lying_length":
            self._lying_length(route, head_only=head_only)

    def _stall(self, route: _Route, server: ImageHTTPServer, *, head_only: bool) -> None:
        if route.stall_phase == "headers" and server.wait(route.seconds):
            self.close_connection = True
            return
        self.send_response(route.status)
        self.send_header("Content-Type", route.content_type)
        self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        if head_only:
            return
        if route.stall_phase == "body" and server.wait(route.seconds):
            self.close_connection = True
            return
        self.wfile.write(route.body)

    def _endless(self, route: _Route, server: ImageHTTPServer, *, head_only: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", route.content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if head_only:
            return
        # Starts like a PNG so sniffers accept it; then zeros forever.
        first = b"\x89PNG\r\n\x1a\n" + bytes(64 * 1024 - 8)
        chunk = bytes(64 * 1024)
        frame_head = f"{len(chunk):x}\r\n".encode()
        self.wfile.write(frame_head + first + b"\r\n")
        # No sleep between writes: sendall() blocks once the client stops
        # reading, and raises when it disconnects (handled in handle()).
        while not server.stopping:
            self.wfile.write(frame_head + chunk + b"\r\n")
        self.close_connection = True

    def _lying_length(self, route: _Route, *, head_only: bool) -> None:
        self.send_response(route.status)
        self.send_header("Content-Type", route.content_type)
        self.send_header("Content-Length", str(route.claimed_length))
        self.send_header("Connection", "close")
        self.end_headers()
        if not head_only:
            self.wfile.write(route.body)
        # Closing now leaves the client short of the bytes it was promised.
        self.close_connection = True


def _normalise(path: str) -> str:
    return path if path.startswith("/") else "/" + path
