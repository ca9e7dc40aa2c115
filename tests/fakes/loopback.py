"""The loopback plumbing every fake HTTP server here is built on.

``LoopbackServer`` runs a ThreadingHTTPServer on 127.0.0.1 (random port) in a daemon
thread, tracks live connections so stop() is prompt, counts handler errors, and lets
tests block until the fake has recorded something (``wait_until``) instead of sleeping.
``LoopbackHandler`` is the request-handler base: HTTP/1.1, silent, body reading,
exact-length sends and TCP resets.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

__all__ = ["LoopbackHandler", "LoopbackServer"]

_HOST = "127.0.0.1"
# How long stop() waits, in total, for handler threads to notice the stop.
_JOIN_BUDGET = 2.0


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
        # Signalled whenever the fake records something a test may wait for.
        self._changed = threading.Condition()

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
            kwargs={"poll_interval": 0.01},
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

    @property
    def open_connections(self) -> int:
        """Connections whose handler has not finished yet."""
        with self._conn_lock:
            return len(self._connections)

    # -- waiting for the fake (tests) ----------------------------------------

    def wait_until(self, condition: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Block until ``condition()`` is true, for at most ``timeout`` seconds.

        ``condition`` is re-checked each time the fake records something (a request,
        a request's start or end, a finished connection), so no polling or fixed
        sleep is needed. Returns whether it became true.
        """
        with self._changed:
            return self._changed.wait_for(condition, timeout)

    def _notify(self) -> None:
        """Wake wait_until(): subclasses call it after recording state."""
        with self._changed:
            self._changed.notify_all()

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
        self._notify()

    def _record_error(self) -> None:
        with self._conn_lock:
            self._errors += 1
