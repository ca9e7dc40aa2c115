"""More misbehaving image servers for the reliability suite, built on ImageHTTPServer.

- FlakyImageServer: a path fails its first N requests (reset, truncated body, any
  status), then serves normally, so retries can be seen succeeding.
- TrickleServer: sends a valid image one byte at a time (every read is quick, the
  whole download is not).
- TLSImageServer: ImageHTTPServer over HTTPS with a self-signed certificate for a name,
  to prove SNI and certificate checks still use the name when the connection is pinned.
"""

from __future__ import annotations

import contextlib
import datetime
import ssl
import threading
from collections import deque
from pathlib import Path
from typing import Literal, cast
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .http_server import ImageHTTPServer
from .image_routes import _TINY_PNG, _ImageHandler, _normalise, _Route
from .loopback import LoopbackHandler, LoopbackServer

__all__ = ["FlakyImageServer", "TLSImageServer", "TrickleServer", "self_signed_certificate"]

Failure = Literal["reset", "truncate"] | int


class FlakyImageServer(ImageHTTPServer):
    """ImageHTTPServer whose paths can fail their first requests before serving.

    Example::

        url = server.add("/logo.png", png)
        server.fail_first("/logo.png", "reset", 503)  # request 3 gets the PNG
    """

    def __init__(self) -> None:
        super().__init__()
        self._failures: dict[str, deque[_Route]] = {}
        self._failure_lock = threading.Lock()

    def fail_first(self, path: str, *failures: Failure) -> str:
        """Answer the next requests for ``path`` with ``failures``, in order; returns the URL."""
        key = _normalise(path)
        served = super()._lookup(key)
        body = served.body if served is not None and served.body else _TINY_PNG
        routes = [_failure_route(failure, body) for failure in failures]
        with self._failure_lock:
            self._failures.setdefault(key, deque()).extend(routes)
        return self.url(path)

    def _lookup(self, raw_path: str) -> _Route | None:
        with self._failure_lock:
            queue = self._failures.get(urlsplit(raw_path).path)
            if queue:
                return queue.popleft()
        return super()._lookup(raw_path)


def _failure_route(failure: Failure, body: bytes) -> _Route:
    if failure == "reset":
        return _Route("reset")
    if failure == "truncate":
        # Promise the whole body, send half, hang up.
        return _Route("lying_length", body=body[: len(body) // 2], claimed_length=len(body))
    return _Route(
        "serve",
        status=failure,
        body=b"try again later\n",
        content_type="text/plain",
        headers=(("Retry-After", "0"),),
    )


class _TrickleHandler(LoopbackHandler):
    def do_GET(self) -> None:
        server = cast(TrickleServer, self.owner)
        server.requests += 1
        body = server.body
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for index in range(len(body)):
            if server.wait(server.interval):
                self.close_connection = True
                return
            self.wfile.write(body[index : index + 1])


class TrickleServer(LoopbackServer):
    """Serves ``body`` at every path, one byte every ``interval`` seconds."""

    handler_class = _TrickleHandler

    def __init__(self, body: bytes, interval: float) -> None:
        super().__init__()
        self.body = body
        self.interval = interval
        self.requests = 0


class _TLSImageHandler(_ImageHandler):
    def setup(self) -> None:
        owner = cast(TLSImageServer, self.server.owner)
        # The handshake happens here, in the handler thread; a client that rejects the
        # certificate makes it fail, which the server records as an error.
        self.request = owner.context.wrap_socket(self.request, server_side=True)
        super().setup()

    def finish(self) -> None:
        super().finish()
        # socketserver closes the plain socket it accepted, which wrap_socket detached;
        # the TLS socket that now owns the descriptor is ours to close (else it is left
        # to the garbage collector, which warns about it).
        with contextlib.suppress(OSError):
            self.request.close()


class TLSImageServer(ImageHTTPServer):
    """ImageHTTPServer speaking HTTPS with the given certificate (on 127.0.0.1)."""

    handler_class = _TLSImageHandler

    def __init__(self, cert_file: Path, key_file: Path) -> None:
        super().__init__()
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert_file, key_file)

    def https_url(self, host: str, path: str) -> str:
        """``https://{host}:{port}{path}``: the name the certificate was issued for."""
        return f"https://{host}:{self.port}{_normalise(path)}"


def self_signed_certificate(directory: Path, name: str) -> tuple[Path, Path]:
    """A certificate for ``name`` (its own CA) and its key, as PEM files in ``directory``."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file = directory / f"{name}.crt"
    key_file = directory / f"{name}.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file
