"""Callbacks against a loopback receiver: signed, retried, never holding the caller."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from prefect_image_pipeline.announce.callbacks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    CallbackSender,
    CallbackURLError,
    check_callback_url,
    sender_for,
    verify,
)
from prefect_image_pipeline.errors import UnsafeURLError
from tests.fakes.webhook_receiver import WebhookReceiver

SECRET = "whsec-canary-5f3a9c0e7d"
PAYLOAD = {"input": "https://example.com/a.png", "status": "published", "marker": "body-canary"}
LOGGER = "prefect_image_pipeline.announce.callbacks"

MakeSender = Callable[..., CallbackSender]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


@pytest.fixture
def delays() -> list[float]:
    """The waits a sender asked for between attempts (none of them slept)."""
    return []


@pytest.fixture
def make_sender(delays: list[float]) -> Iterator[MakeSender]:
    """Senders whose waits between attempts return at once; closed at teardown."""
    made: list[CallbackSender] = []

    def no_wait(seconds: float) -> bool:
        delays.append(seconds)
        return False

    def make(url: str, secret: str | None = None, **options: Any) -> CallbackSender:
        options.setdefault("wait", no_wait)
        sender = CallbackSender(url, secret, **options)
        made.append(sender)
        return sender

    yield make
    for sender in made:
        sender.close(timeout=5)


def warnings_in(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelname == "WARNING"]


def test_the_signature_verifies_against_the_raw_body(
    receiver: WebhookReceiver, make_sender: MakeSender
) -> None:
    sender = make_sender(receiver.url(), SECRET)
    sender.send("image", PAYLOAD)
    assert sender.close() == 0

    (post,) = receiver.posts
    assert post.body == json.dumps(PAYLOAD, sort_keys=True).encode()
    signature = post.headers[SIGNATURE_HEADER.lower()]
    assert verify(post.body, SECRET, signature)
    assert not verify(post.body + b" ", SECRET, signature)
    assert not verify(post.body, "another-secret", signature)
    assert not verify(post.body, SECRET, None)
    assert post.headers["content-type"] == "application/json"
    assert post.headers["user-agent"] == "prefect-image-pipeline"
    assert post.headers[EVENT_HEADER.lower()] == "image"
    assert len(post.headers[DELIVERY_HEADER.lower()]) == 32
    assert sender.delivered == 1


def test_no_signature_without_a_secret(receiver: WebhookReceiver, make_sender: MakeSender) -> None:
    sender = make_sender(receiver.url())
    sender.send("run", {"status": "finished"})
    assert sender.close() == 0
    (post,) = receiver.posts
    assert SIGNATURE_HEADER.lower() not in post.headers
    assert post.headers[EVENT_HEADER.lower()] == "run"


def test_deliveries_keep_their_order(receiver: WebhookReceiver, make_sender: MakeSender) -> None:
    sender = make_sender(receiver.url())
    for n in range(5):
        sender.send("image", {"n": n})
    assert sender.close() == 0
    assert [post.json()["n"] for post in receiver.posts] == [0, 1, 2, 3, 4]


def test_server_errors_are_retried_with_backoff_under_one_delivery_id(
    receiver: WebhookReceiver, make_sender: MakeSender, delays: list[float]
) -> None:
    receiver.answer(503, 503)
    sender = make_sender(receiver.url(), SECRET)
    sender.send("image", PAYLOAD)
    assert sender.close() == 0

    posts = receiver.posts
    assert [post.status for post in posts] == [503, 503, 200]
    assert len({post.headers[DELIVERY_HEADER.lower()] for post in posts}) == 1
    assert len({post.body for post in posts}) == 1
    assert delays == [0.5, 1.0]
    assert (sender.delivered, sender.failed) == (1, 0)


def test_retry_after_is_honoured_up_to_the_cap(
    receiver: WebhookReceiver, make_sender: MakeSender, delays: list[float]
) -> None:
    receiver.answer(429, headers={"Retry-After": "7"})
    receiver.answer(503, headers={"Retry-After": "120"})
    sender = make_sender(receiver.url(), max_delay=30.0)
    sender.send("image", PAYLOAD)
    assert sender.close() == 0
    assert delays == [7.0, 30.0]


def test_a_client_error_is_not_retried(
    receiver: WebhookReceiver, make_sender: MakeSender, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.answer(400)
    sender = make_sender(receiver.url())
    sender.send("image", PAYLOAD)
    assert sender.close() == 1
    assert len(receiver.posts) == 1
    assert (sender.delivered, sender.failed) == (0, 1)
    (warning,) = warnings_in(caplog)
    assert receiver.url() in warning
    assert "HTTP 400" in warning


def test_a_redirect_is_a_failed_delivery_not_followed(
    receiver: WebhookReceiver, make_sender: MakeSender
) -> None:
    receiver.answer(302, headers={"Location": "http://169.254.169.254/"})
    sender = make_sender(receiver.url())
    sender.send("image", PAYLOAD)
    assert sender.close() == 1
    assert len(receiver.posts) == 1


def test_a_timeout_is_retried(receiver: WebhookReceiver, make_sender: MakeSender) -> None:
    receiver.hold()
    sender = make_sender(receiver.url(), timeout=0.3)
    sender.send("image", PAYLOAD)
    # The first POST is held past the sender's timeout; the second arriving is the retry.
    assert receiver.wait_until(lambda: receiver.arrived >= 2)
    receiver.release()
    assert sender.close() == 0
    assert sender.delivered == 1
    assert len({post.headers[DELIVERY_HEADER.lower()] for post in receiver.posts}) == 1


def test_send_returns_while_the_receiver_holds_the_post(
    receiver: WebhookReceiver, make_sender: MakeSender
) -> None:
    receiver.hold()
    sender = make_sender(receiver.url())
    sender.send("image", PAYLOAD)
    # send() has returned, yet the POST is still unanswered.
    assert receiver.wait_until(lambda: receiver.arrived == 1)
    assert receiver.posts == []
    assert sender.delivered == 0
    receiver.release()
    assert sender.close() == 0
    assert sender.delivered == 1


def test_close_counts_what_a_failing_receiver_never_took(
    receiver: WebhookReceiver, make_sender: MakeSender, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.answer(*[503] * 10)
    sender = make_sender(receiver.url(), attempts=2)
    sender.send("image", PAYLOAD)
    sender.send("run", {"status": "finished"})
    assert sender.close() == 2
    assert sender.close() == 2  # idempotent
    assert len(receiver.posts) == 4
    assert sender.failed == 2
    assert len(warnings_in(caplog)) == 2


def test_close_stops_waiting_at_its_deadline(
    receiver: WebhookReceiver, make_sender: MakeSender, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.answer(503)
    # The real wait between attempts: a minute, which close() must cut short.
    sender = make_sender(receiver.url(), first_delay=60.0, max_delay=60.0, wait=None)
    sender.send("image", PAYLOAD)
    assert receiver.wait_until(lambda: len(receiver.posts) == 1)
    assert sender.close(timeout=0.05) == 1
    assert any("close() gave up" in w for w in warnings_in(caplog))


def test_an_unreachable_receiver_is_retried_then_given_up(
    make_sender: MakeSender, delays: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    with WebhookReceiver() as gone:
        url = gone.url()
    sender = make_sender(url, attempts=3)
    sender.send("image", PAYLOAD)
    assert sender.close() == 1
    assert delays == [0.5, 1.0]
    (warning,) = warnings_in(caplog)
    assert "could not resolve or connect" in warning


def test_a_payload_that_is_not_json_never_raises(
    receiver: WebhookReceiver, make_sender: MakeSender
) -> None:
    sender = make_sender(receiver.url())
    sender.send("image", {"bad": object()})
    assert sender.close() == 0
    assert sender.failed == 1
    assert receiver.posts == []


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/hook", "http://169.254.169.254/", "http://[::1]:9/hook"]
)
def test_an_internal_address_is_refused_before_any_work(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGE_URL_ALLOWED_HOSTS", "")
    with pytest.raises(CallbackURLError) as refused:
        check_callback_url(url)
    message = str(refused.value)
    assert isinstance(refused.value, UnsafeURLError)
    for words in ("--callback-url", "callback_url", url, "public", "IMAGE_URL_ALLOWED_HOSTS"):
        assert words in message
    with pytest.raises(CallbackURLError):
        CallbackSender(url, SECRET)


def test_a_refused_url_is_shown_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGE_URL_ALLOWED_HOSTS", "")
    with pytest.raises(CallbackURLError) as refused:
        check_callback_url("http://user:hunter2@169.254.169.254/hook?token=tok-canary")
    assert "hunter2" not in str(refused.value)
    assert "tok-canary" not in str(refused.value)


def test_a_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(CallbackURLError, match=r"--callback-url .*http\(s\)"):
        check_callback_url("ftp://example.com/hook")


def test_a_host_that_does_not_resolve_now_is_a_warning_not_a_failed_run(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("IMAGE_URL_ALLOWED_HOSTS", "")
    url = "https://hooks.platform.invalid/done"  # .invalid never resolves (RFC 2606)
    assert check_callback_url(url) == url  # each delivery checks again
    assert "does not resolve now" in caplog.text and "hooks.platform.invalid" in caplog.text


def test_a_trusted_host_is_allowed(receiver: WebhookReceiver) -> None:
    assert check_callback_url(receiver.url()) == receiver.url()


def test_sender_for_signs_with_the_configured_secret(
    receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert sender_for(None) is None
    monkeypatch.setenv("IMAGE_PIPELINE_CALLBACK_SECRET", SECRET)
    sender = sender_for(receiver.url())
    assert sender is not None
    sender.send("run", {"status": "finished"})
    assert sender.close() == 0
    (post,) = receiver.posts
    assert verify(post.body, SECRET, post.headers[SIGNATURE_HEADER.lower()])


def test_neither_the_secret_nor_the_body_is_logged(
    receiver: WebhookReceiver, make_sender: MakeSender, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.answer(500, 500)
    sender = make_sender(receiver.url("/hook?token=tok-canary"), SECRET, attempts=2)
    sender.send("image", PAYLOAD)
    sender.send("image", PAYLOAD)
    assert sender.close() == 1
    (warning,) = warnings_in(caplog)
    assert "token=***" in warning
    assert "tok-canary" not in warning  # (urllib3's own DEBUG lines do show the query)
    for secret in (SECRET, "body-canary"):
        assert secret not in caplog.text
