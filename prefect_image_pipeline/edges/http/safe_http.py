"""HTTP GET for image URLs that only ever connects to addresses edges.http.url_policy checked.

requests follows redirects and resolves names by itself; both would let a URL reach an
address nobody checked (a redirect to http://169.254.169.254/, or a DNS answer that
changes between check and use). So redirects are followed here, one checked hop at a
time, and each hop's connection goes to the checked IP while the Host header, SNI and
certificate check keep using the name.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.utils import requote_uri
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util.connection import create_connection

from prefect_image_pipeline.edges.http.url_policy import (
    CheckedURL,
    Resolver,
    check_url,
    system_resolver,
)
from prefect_image_pipeline.errors import InvalidImageSourceError, UnsafeURLError
from prefect_image_pipeline.settings.config import settings
from prefect_image_pipeline.urls import redact_url

MAX_REDIRECTS = 5
_HEADERS = {
    "User-Agent": "prefect-image-pipeline/0.1 (+image download)",
    # Images are already compressed; asking for identity also avoids gzip bombs.
    "Accept-Encoding": "identity",
    "Accept": "image/png, image/jpeg, image/webp, image/gif;q=0.9, */*;q=0.1",
}


class _PinnedHTTPConnection(HTTPConnection):
    def __init__(self, *args: Any, pinned_addresses: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pinned_addresses = pinned_addresses

    def _new_conn(self) -> socket.socket:
        return _connect_pinned(self, self.pinned_addresses)


class _PinnedHTTPSConnection(HTTPSConnection):
    # connect() wraps the socket from _new_conn() with SNI and hostname checks for self.host.
    def __init__(self, *args: Any, pinned_addresses: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pinned_addresses = pinned_addresses

    def _new_conn(self) -> socket.socket:
        return _connect_pinned(self, self.pinned_addresses)


def _connect_pinned(conn: HTTPConnection, addresses: tuple[str, ...]) -> socket.socket:
    """Connect to the first checked address that answers, like create_connection does."""
    error: Exception = NewConnectionError(conn, f"No checked address for {conn.host}")
    for address in addresses:
        try:
            return create_connection(
                (address, conn.port),
                conn.timeout,
                source_address=conn.source_address,
                socket_options=conn.socket_options,
            )
        except TimeoutError:
            error = ConnectTimeoutError(
                conn, f"Connection to {conn.host} ({address}) timed out ({conn.timeout}s)"
            )
        except OSError as exc:
            error = NewConnectionError(conn, f"Failed to connect to {conn.host} ({address}): {exc}")
    raise error


class _PinnedPoolManager(urllib3.PoolManager):
    def __init__(self, pins: Mapping[str, tuple[str, ...]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pins = dict(pins)

    def _new_pool(
        self,
        scheme: str,
        host: str,
        port: int,
        request_context: dict[str, Any] | None = None,
    ) -> HTTPConnectionPool:
        addresses = self._pins.get(host.strip("[]").rstrip(".").lower())
        if addresses is None:  # only checked URLs are requested; this guards against a slip
            raise UnsafeURLError(f"refused: {host} was not checked before connecting")
        pool = super()._new_pool(scheme, host, port, request_context)
        pool.ConnectionCls = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
        pool.conn_kw["pinned_addresses"] = addresses
        return pool


class _PinnedAdapter(HTTPAdapter):
    def __init__(self, checked: CheckedURL) -> None:
        self._pins = {checked.host: checked.addresses}  # read by init_poolmanager below
        super().__init__(max_retries=0)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        self.poolmanager = _PinnedPoolManager(
            self._pins, num_pools=connections, maxsize=maxsize, block=block, **pool_kwargs
        )


def pinned_session(checked: CheckedURL) -> requests.Session:
    """A session that connects only to ``checked``'s addresses, never through a proxy."""
    session = requests.Session()
    # A proxy would resolve and connect on our behalf to an address nobody checked.
    session.trust_env = False
    session.verify = settings().ca_bundle or True
    adapter = _PinnedAdapter(checked)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@contextmanager
def open_checked(
    url: str, timeout: float, resolver: Resolver = system_resolver
) -> Iterator[requests.Response]:
    """GET ``url`` with its body unread, following at most 5 redirects, each one checked.

    Raises what check_url raises, InvalidImageSourceError for a redirect loop, and
    requests.Timeout / requests.ConnectionError with readable messages.
    """
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        checked = check_url(current, resolver)
        with pinned_session(checked) as session:
            try:
                response = session.get(
                    current, headers=_HEADERS, timeout=timeout, stream=True, allow_redirects=False
                )
            except requests.RequestException as exc:
                raise transport_error(exc, current, timeout) from exc
            with response:
                target = session.get_redirect_target(response)
                if target is None:
                    yield response
                    return
            current = requote_uri(requests.compat.urljoin(current, target))
    raise InvalidImageSourceError(
        f"Too many redirects downloading {redact_url(url)} (more than {MAX_REDIRECTS}); "
        "use the final image URL"
    )


def iter_body(response: requests.Response, chunk_bytes: int) -> Iterator[bytes]:
    """The body as it arrives, in requests' exception types.

    read1 returns whatever bytes are there instead of waiting to fill a chunk, so a
    server sending one byte at a time cannot hold the caller between deadline checks.
    """
    raw = response.raw
    while True:
        try:
            chunk: bytes = raw.read1(chunk_bytes, decode_content=True)
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise requests.Timeout(exc) from exc
        except urllib3.exceptions.SSLError as exc:
            raise requests.exceptions.SSLError(exc) from exc
        except urllib3.exceptions.ProtocolError as exc:  # reset, or fewer bytes than promised
            raise requests.exceptions.ChunkedEncodingError(exc) from exc
        except urllib3.exceptions.DecodeError as exc:
            raise requests.exceptions.ContentDecodingError(exc) from exc
        if not chunk:
            return
        yield chunk


def transport_error(exc: BaseException, url: str, timeout: float) -> Exception:
    """A readable error naming the URL (secrets redacted) and the cause.

    requests.Timeout / ConnectionError for what may pass (the load task retries them);
    SSLError and InvalidImageSourceError for what will not.
    """
    shown = redact_url(url)
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema)):
        return InvalidImageSourceError(f"Invalid image URL: {shown}; check how it is written")
    if _is_timeout(exc):
        return requests.Timeout(
            f"Timeout downloading image from {shown} after {timeout}s; "
            "check the URL is reachable or raise the timeout"
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return requests.exceptions.SSLError(
            f"TLS check failed downloading {shown}: the certificate is not valid for the host; "
            "fix the URL, or trust a private CA with REQUESTS_CA_BUNDLE"
        )
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return requests.ConnectionError(
            f"Connection closed before the whole image arrived from {shown}; "
            "the server sent less than it promised"
        )
    return requests.ConnectionError(
        f"Could not connect to download {shown}{_cause(exc)}; check the URL and your network"
    )


def _is_timeout(exc: BaseException) -> bool:
    # A read timeout while streaming the body surfaces as ConnectionError(ReadTimeoutError).
    inner = exc.args[0] if exc.args else None
    return isinstance(exc, requests.Timeout) or isinstance(
        inner, urllib3.exceptions.ReadTimeoutError
    )


def _cause(exc: BaseException) -> str:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionResetError) or "reset by peer" in str(seen):
            return " (the connection was reset)"
        if isinstance(seen, ConnectionRefusedError) or "refused" in str(seen).lower():
            return " (connection refused)"
        seen = seen.__cause__ or seen.__context__
    return ""


class DeadlineExceeded(requests.Timeout):
    """The whole download took longer than its deadline (transient, like any timeout)."""


class Deadline:
    """A wall-clock budget for a whole download, so a server dripping bytes cannot stall us."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def expired(self) -> bool:
        """Whether the budget is spent."""
        return time.monotonic() > self._end
