"""Callbacks: each notice POSTed as JSON, signed, to the platform's URL, without holding a run.

``send()`` only queues; one daemon thread delivers in order and retries 5xx, 408, 429,
timeouts and connection errors with exponential backoff, then gives up with one WARNING.
Each attempt connects only to addresses edges.http.url_policy checked (checked again per
attempt: a long run outlives a DNS answer) and never follows a redirect. A receiver checks
``SIGNATURE_HEADER`` against the raw body, as ``verify`` does, before trusting a POST.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self

import requests

from prefect_image_pipeline.announce.signing import SIGNATURE_HEADER, sign, verify
from prefect_image_pipeline.edges.http.safe_http import pinned_session
from prefect_image_pipeline.edges.http.url_policy import check_url
from prefect_image_pipeline.errors import InvalidImageSourceError, UnsafeURLError
from prefect_image_pipeline.settings.config import settings
from prefect_image_pipeline.urls import parse_http_url, redact_url

__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "SIGNATURE_HEADER",
    "CallbackSender",
    "CallbackURLError",
    "check_callback_url",
    "sender_for",
    "sign",
    "verify",
]

EVENT_HEADER = "X-Image-Pipeline-Event"
# The same for every attempt of one delivery, so a receiver can drop a repeat.
DELIVERY_HEADER = "X-Image-Pipeline-Delivery"
USER_AGENT = "prefect-image-pipeline"

Kind = Literal["image", "run"]
# Waits up to the given seconds; True means stop waiting for good (threading.Event.wait).
Wait = Callable[[float], bool]

_OPTION = "--callback-url (callback_url)"
_RETRIED_STATUSES = frozenset({408, 429})

logger = logging.getLogger(__name__)


class CallbackURLError(UnsafeURLError):
    """The callback URL is not one we may POST to; the message names the fix."""


def check_callback_url(url: str) -> str:
    """``url`` if callbacks may go there (http(s), public or IMAGE_URL_ALLOWED_HOSTS).

    Raises CallbackURLError naming the option, the URL (redacted) and the fix; run it
    before any paid work.
    """
    shown = redact_url(url)
    try:
        host = parse_http_url(url)[1]
    except InvalidImageSourceError:
        raise CallbackURLError(
            f"{_OPTION} {shown} is not an http(s) URL with a host and port; "
            "give the platform's public http(s) endpoint"
        ) from None
    try:
        check_url(url)
    except UnsafeURLError as exc:
        detail = str(exc).removeprefix(f"refused {shown}: ")
        raise CallbackURLError(
            f"Refusing {_OPTION} {shown}: {detail}, or give a public http(s) URL"
        ) from None
    except requests.ConnectionError:
        # Not fatal: each delivery checks again, and a run must not fail for a DNS blip.
        logger.warning(
            "%s %s: host %s does not resolve now; each callback tries again (check the URL "
            "and your DNS)",
            _OPTION,
            shown,
            host,
        )
    return url


@dataclass(frozen=True)
class _Delivery:
    kind: Kind
    body: bytes  # serialized once: the signature covers exactly these bytes
    id: str


class CallbackSender:
    """POSTs notices to one URL from a background thread: in order, signed, retried.

    ``wait`` replaces the sleep between attempts (tests pass one that returns at once);
    call ``close()`` before the process ends, or queued callbacks are lost.
    """

    def __init__(
        self,
        url: str,
        secret: str | None,
        *,
        attempts: int = 5,
        first_delay: float = 0.5,
        max_delay: float = 30.0,
        timeout: float = 10.0,
        wait: Wait | None = None,
    ) -> None:
        self.url = check_callback_url(url)
        self._shown = redact_url(url)
        self._secret = secret or None
        self._attempts = max(1, attempts)
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._timeout = timeout
        self._stop = threading.Event()  # set when close()'s deadline passes
        self._wait = wait or self._stop.wait
        self._queue: queue.Queue[_Delivery | None] = queue.Queue()
        self._lock = threading.Lock()
        self._sent = self._delivered = self._failed = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="image-callbacks", daemon=True)
        self._thread.start()

    @property
    def delivered(self) -> int:
        """Callbacks the receiver answered with a 2xx."""
        return self._delivered

    @property
    def failed(self) -> int:
        """Callbacks given up on (each logged as a WARNING)."""
        return self._failed

    def send(self, kind: Kind, payload: dict[str, Any]) -> None:
        """Queue one POST of ``payload`` and return at once; never raises."""
        try:
            body = json.dumps(payload, sort_keys=True).encode()
        except (TypeError, ValueError) as exc:
            self._give_up(f"the {kind} payload is not JSON ({type(exc).__name__})")
            return
        with self._lock:
            closed = self._closed
            if not closed:
                self._sent += 1
                self._queue.put(_Delivery(kind, body, uuid.uuid4().hex))
        if closed:
            self._give_up(f"the {kind} callback came after close()")

    def close(self, timeout: float = 30.0) -> int:
        """Wait up to ``timeout`` seconds for the queue to finish; how many were not delivered."""
        with self._lock:
            first, self._closed = not self._closed, True
        if first:
            self._queue.put(None)
        self._thread.join(max(0.0, timeout))
        if first and self._thread.is_alive():
            self._stop.set()  # wakes the wait between attempts; the rest are dropped
            with self._lock:
                dropped = self._sent - self._delivered - self._failed
            logger.warning(
                "%d callback(s) to %s not delivered: still retrying or queued when "
                "close() gave up after %ss",
                dropped,
                self._shown,
                timeout,
            )
        with self._lock:
            return self._sent - self._delivered

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self) -> None:
        while (delivery := self._queue.get()) is not None:
            if not self._stop.is_set():
                self._deliver(delivery)

    def _deliver(self, delivery: _Delivery) -> None:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_HEADER: delivery.kind,
            DELIVERY_HEADER: delivery.id,
        }
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign(delivery.body, self._secret)
        for attempt in range(1, self._attempts + 1):
            reason, retry, retry_after = self._attempt(delivery.body, headers)
            if reason is None:
                with self._lock:
                    self._delivered += 1
                return
            if not retry or attempt == self._attempts:
                break
            backoff = self._first_delay * 2 ** (attempt - 1)
            delay = min(backoff if retry_after is None else retry_after, self._max_delay)
            if self._wait(delay) or self._stop.is_set():
                return  # close() gave up; it logs and counts what is left
        self._give_up(f"{reason}, after {attempt} attempt(s)")

    def _attempt(
        self, body: bytes, headers: dict[str, str]
    ) -> tuple[str | None, bool, float | None]:
        """One POST: (why it failed or None, whether to retry, the Retry-After seconds)."""
        try:
            with (
                pinned_session(check_url(self.url)) as session,
                session.post(
                    self.url,
                    data=body,
                    headers=headers,
                    timeout=self._timeout,
                    allow_redirects=False,
                    stream=True,  # the answer's body is never read
                ) as response,
            ):
                status = response.status_code
                retry_after = _seconds(response.headers.get("Retry-After"))
        except UnsafeURLError as exc:  # the name resolves somewhere internal now
            return str(exc), False, None
        except requests.exceptions.SSLError:
            return "TLS check failed (certificate not valid for the host)", False, None
        except requests.Timeout:
            return f"no answer within {self._timeout}s", True, None
        except requests.ConnectionError:
            # requests' own messages spell out the URL, query included: never shown.
            return "could not resolve or connect to the host", True, None
        except Exception as exc:  # noqa: BLE001 - a callback must never break the run
            return f"unexpected {type(exc).__name__}", False, None
        if 200 <= status < 300:
            return None, False, None
        if 300 <= status < 400:
            return f"HTTP {status}, a redirect (not followed: use the final URL)", False, None
        retry = status >= 500 or status in _RETRIED_STATUSES
        return f"HTTP {status}", retry, retry_after

    def _give_up(self, reason: str) -> None:
        with self._lock:
            self._failed += 1
        logger.warning("Callback to %s not delivered: %s", self._shown, reason)


def _seconds(retry_after: str | None) -> float | None:
    """A numeric Retry-After in seconds; None when absent or an HTTP date."""
    try:
        seconds = float(retry_after) if retry_after else None
    except ValueError:
        return None
    return max(0.0, seconds) if seconds is not None and math.isfinite(seconds) else None


def sender_for(url: str | None) -> CallbackSender | None:
    """The sender for ``--callback-url``, signing with IMAGE_PIPELINE_CALLBACK_SECRET.

    None without a URL; raises CallbackURLError for a URL callbacks may not go to.
    """
    if url is None:
        return None
    secret = settings().callback_secret
    if secret is None:
        logger.info(
            "Callbacks to %s are unsigned; set IMAGE_PIPELINE_CALLBACK_SECRET so the "
            "platform can verify them",
            redact_url(url),
        )
    return CallbackSender(url, secret.get_secret_value() if secret is not None else None)
