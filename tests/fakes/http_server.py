"""Loopback HTTP server that serves registered bytes, for image-URL tests.

Also holds ``LoopbackServer``, the start/stop plumbing shared with the fake
OpenAI server.
"""

from __future__ import annotations

import contextlib
import io
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, NamedTuple, Self, cast
from urllib.parse import urlsplit

from PIL import Image

__all__ = ["ImageHTTPServer", "LoopbackServer", "ServedRequest"]

_HOST = "127.0.0.1"
# How long stop() waits, in total, for handler threads to notice the stop.
_JOIN_BUDGET = 2.0


def _tiny_png() -> bytes:
    """A valid 1x1 transparent PNG, for misbehaving routes that need some body."""
    buffer = io.BytesIO()
    Image.new("RGBA", (1, 1)).save(buffer, format="PNG")
    return buffer.getvalue()


_TINY_PNG = _tiny_png()


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its owning fake and never blocks on close."""

    daemon_threads = True
    # stop() shuts connections down and joins handlers itself, with a deadline;
    # the stdlib join (block_on_close) could wait forever on a stalled handler.
    block_on_close = False
    # The default listen backlog (5) makes bursts of parallel clients wait for
    # SYN retransmits; concurrency tests open many connections at once.
    request_queue_size = 128

    def __init__(self, owner: LoopbackServer, handler: type[BaseHTTPRequestHandler]) -> None:
        self.owner = owner
        super().__init__((_HOST, 0), handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup
        # that can stall without network; the name is not needed here.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Keep the stdlib traceback on stderr, and let tests assert on it too.
        self.owner._record_error()
        super().handle_error(request, client_address)


class LoopbackHandler(BaseHTTPRequestHandler):
    """Request handler base: HTTP/1.1, silent, tolerant of clients that vanish."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes. With Nagle on, a body shorter than one
    # segment waits for the client's delayed ACK of the headers (~40 ms on Linux), a
    # stall real servers do not have; it held every benchmark slot 40 ms beyond L.
    disable_nagle_algorithm = True
    server: _Server

    @property
    def owner(self) -> LoopbackServer:
        """The fake server this handler belongs to."""
        return self.server.owner

    def setup(self) -> None:
        super().setup()
        self.owner._track(self.connection)

    def finish(self) -> None:
        # The socket may already be gone (reset, client disconnect, stop()).
        with contextlib.suppress(OSError, ValueError):
            super().finish()
        self.owner._untrack(self.connection)

    def handle(self) -> None:
        try:
            super().handle()
        except OSError:
            # Clients that time out or hang up mid-response are part of the
            # scenarios we simulate, not server errors.
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Stay silent: test output should not carry request lines or payloads."""

    def read_body(self) -> bytes:
        """Read the request body (Content-Length or chunked)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Skip trailers up to the blank line.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_bytes(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
        *,
        head_only: bool = False,
    ) -> None:
        """Send a complete response with an exact Content-Length."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not head_only:
            self.wfile.write(body)

    def abort_connection(self) -> None:
        """Drop the TCP connection with a RST and no response at all."""
        self.close_connection = True
        # SO_LINGER 0 turns close() into a reset, like a crashed proxy.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # rfile holds a reference on the socket; the fd only closes with both.
        with contextlib.suppress(OSError, ValueError):
            self.rfile.close()
        with contextlib.suppress(OSError):
            self.connection.close()


class LoopbackServer:
    """A ThreadingHTTPServer on 127.0.0.1 (random port) served by a daemon thread.

    Use as a context manager, or call start()/stop(). Subclasses set
    ``handler_class``.
    """

    handler_class: type[LoopbackHandler] = LoopbackHandler

    def __init__(self) -> None:
        self._stop_event = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._conn_lock = threading.Lock()
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._errors = 0

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> Self:
        """Bind a fresh port and start serving; returns self."""
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        self._stop_event.clear()
        self._server = _Server(self, self.handler_class)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            # A short poll keeps shutdown() quick.
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake stalled handlers, join threads and close the socket."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stop_event.set()
        server.shutdown()
        with self._conn_lock:
            connections = dict(self._connections)
        # Shutting sockets down unblocks handlers waiting on a slow client.
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + _JOIN_BUDGET
        for handler_thread in connections.values():
            handler_thread.join(max(0.0, deadline - time.monotonic()))
        server.server_close()
        if thread is not None:
            thread.join(max(0.1, deadline - time.monotonic()))
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses -----------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound TCP port (only while running)."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        return self._server.server_port

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{_HOST}:{self.port}"

    @property
    def errors(self) -> int:
        """How many handler exceptions (bugs in the fake) have occurred."""
        return self._errors

    # -- helpers for handlers ------------------------------------------------

    @property
    def stopping(self) -> bool:
        """True once stop() has been called."""
        return self._stop_event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; return True early if the server is stopping."""
        if seconds <= 0:
            return self._stop_event.is_set()
        return self._stop_event.wait(seconds)

    def _track(self, conn: socket.socket) -> None:
        with self._conn_lock:
            self._connections[conn] = threading.current_thread()

    def _untrack(self, conn: socket.socket) -> None:
        with self._conn_lock:
            self._connections.pop(conn, None)

    def _record_error(self) -> None:
        with self._conn_lock:
            self._errors += 1


# ---------------------------------------------------------------------------
# Image server
# ---------------------------------------------------------------------------

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
        server = cast(ImageHTTPServer, self.server.owner)
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

    def _lookup(self, raw_path: str) -> _Route | None:
        with self._lock:
            route = self._routes.get(raw_path)
            if route is None:
                route = self._routes.get(urlsplit(raw_path).path)
            return route


def _normalise(path: str) -> str:
    return path if path.startswith("/") else "/" + path
