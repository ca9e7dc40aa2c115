"""A loopback S3/STS endpoint in front of moto's server that can answer with AWS errors.

Point AWS_ENDPOINT_URL at it. Each queued fault answers one matching request with the
status and XML error body AWS sends (S3's ``<Error>``, STS's ``<ErrorResponse>``), so
boto3 raises exactly the ClientError it raises against AWS; every other request is
forwarded to moto unchanged. Moto cannot deny access or expire a token by itself.

Example::

    with S3FaultProxy(moto_endpoint) as proxy:
        proxy.enqueue(S3Fault.access_denied())       # the next S3 request gets a 403
        proxy.enqueue(S3Fault.slow_down(), S3Fault.slow_down())
"""

from __future__ import annotations

import http.client
import secrets
import threading
from dataclasses import dataclass
from typing import NamedTuple, cast
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from .loopback import LoopbackHandler, LoopbackServer

__all__ = ["ProxiedRequest", "S3Fault", "S3FaultProxy"]

# Headers that describe one hop, not the message; the proxy sets its own.
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "expect", "host", "content-length"}


@dataclass(frozen=True)
class S3Fault:
    """One AWS error answer. ``method`` limits which requests it applies to (None = any)."""

    status: int
    code: str
    message: str
    method: str | None = None
    service: str = "s3"  # "s3" or "sts": which request it matches and which XML it sends

    @classmethod
    def access_denied(cls, method: str | None = "PUT") -> S3Fault:
        """403 AccessDenied, as for a role without s3:PutObject."""
        return cls(403, "AccessDenied", "Access Denied", method)

    @classmethod
    def expired_token(cls, method: str | None = "PUT") -> S3Fault:
        """400 ExpiredToken: the session token in the request has expired."""
        return cls(400, "ExpiredToken", "The provided token has expired.", method)

    @classmethod
    def slow_down(cls, method: str | None = "PUT") -> S3Fault:
        """503 SlowDown: S3 asks clients to reduce their request rate (transient)."""
        return cls(503, "SlowDown", "Please reduce your request rate.", method)

    @classmethod
    def internal_error(cls, method: str | None = "PUT") -> S3Fault:
        """500 InternalError (transient)."""
        return cls(
            500, "InternalError", "We encountered an internal error. Please try again.", method
        )

    @classmethod
    def sts_invalid_token(cls) -> S3Fault:
        """STS GetCallerIdentity refusing the credentials."""
        return cls(
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
            "POST",
            "sts",
        )


class ProxiedRequest(NamedTuple):
    """One request the proxy received, and whether a fault answered it."""

    method: str
    path: str
    service: str
    faulted: bool


class _ProxyHandler(LoopbackHandler):
    def do_GET(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        proxy = cast(S3FaultProxy, self.owner)
        body = self.read_body()
        # STS speaks the query protocol: a form POST with an Action.
        service = "sts" if self.command == "POST" and body.startswith(b"Action=") else "s3"
        fault = proxy._take_fault(self.command, service)
        proxy._record(ProxiedRequest(self.command, self.path, service, fault is not None))
        if fault is not None:
            self._send_fault(fault)
        else:
            self._forward(proxy, body)

    def _send_fault(self, fault: S3Fault) -> None:
        request_id = secrets.token_hex(8).upper()
        code, message = escape(fault.code), escape(fault.message)
        if fault.service == "sts":
            xml = (
                '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                f"<Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
                f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
            )
        else:
            xml = (
                '<?xml version="1.0" encoding="UTF-8"?>'
                f"<Error><Code>{code}</Code><Message>{message}</Message>"
                f"<RequestId>{request_id}</RequestId><HostId>fake</HostId></Error>"
            )
        headers = {"x-amz-request-id": request_id}
        self.send_bytes(
            fault.status,
            xml.encode(),
            "application/xml",
            headers,
            head_only=self.command == "HEAD",
        )

    def _forward(self, proxy: S3FaultProxy, body: bytes) -> None:
        upstream = urlsplit(proxy.upstream)
        connection = http.client.HTTPConnection(upstream.netloc, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
            headers["Host"] = upstream.netloc
            headers["Content-Length"] = str(len(body))
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            self.send_response(response.status)
            for name, value in response.getheaders():
                if name.lower() not in _HOP_HEADERS:
                    self.send_header(name, value)
            length = response.getheader("Content-Length") if self.command == "HEAD" else None
            self.send_header("Content-Length", length or str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        finally:
            connection.close()


class S3FaultProxy(LoopbackServer):
    """Forwards to ``upstream`` (moto's server) except where a queued fault answers."""

    handler_class = _ProxyHandler

    def __init__(self, upstream: str) -> None:
        super().__init__()
        self.upstream = upstream
        self._lock = threading.Lock()
        self._faults: list[S3Fault] = []
        self._history: list[ProxiedRequest] = []

    @property
    def endpoint(self) -> str:
        """Pass as AWS_ENDPOINT_URL."""
        return self.origin

    def enqueue(self, *faults: S3Fault) -> None:
        """Queue faults; each answers the next request matching its method and service."""
        with self._lock:
            self._faults.extend(faults)

    @property
    def history(self) -> list[ProxiedRequest]:
        """Every request received, oldest first."""
        with self._lock:
            return list(self._history)

    def count(self, method: str, service: str = "s3") -> int:
        """Requests received with ``method`` for ``service``."""
        return sum(1 for r in self.history if r.method == method and r.service == service)

    def _take_fault(self, method: str, service: str) -> S3Fault | None:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.service == service and fault.method in (None, method):
                    return self._faults.pop(index)
        return None

    def _record(self, request: ProxiedRequest) -> None:
        with self._lock:
            self._history.append(request)
