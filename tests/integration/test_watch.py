"""The watcher (prefect_image_pipeline.watch): S3 notifications through moto's SQS, listing
mode against moto's S3, and the image-pipeline.source.created events read back from the
session's Prefect server.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, cast

import pytest

from prefect_image_pipeline.announce.names import SOURCE_CREATED_EVENT
from prefect_image_pipeline.errors import InvalidImageSourceError
from prefect_image_pipeline.inputs import parse_s3_uri
from prefect_image_pipeline.watch.emit import announce_source, source_event_id
from prefect_image_pipeline.watch.listing import PrefixListing
from prefect_image_pipeline.watch.loop import long_poll_seconds, watch
from prefect_image_pipeline.watch.sources import (
    NewSource,
    NotificationError,
    is_watched,
    parse_prefix_uri,
    sources_in_notification,
)
from prefect_image_pipeline.watch_sources import watch_sources
from tests.conftest import S3Env
from tests.events import stored_events
from tests.images import logo
from tests.sqs import new_queue, notify_queue, sqs_client

if TYPE_CHECKING:
    from prefect_image_pipeline.edges.s3.objects import S3Client

PREFIX = "incoming/"


@contextmanager
def _stopping(seconds: float = 15) -> Iterator[threading.Event]:
    """A stop event that sets itself after ``seconds``: a test that misses its sources
    fails on its assertions instead of hanging."""
    stop = threading.Event()
    timer = threading.Timer(seconds, stop.set)
    timer.start()
    try:
        yield stop
    finally:
        timer.cancel()


def _watch_queue(s3: S3Env, queue_url: str, sources: int) -> tuple[int, list[NewSource]]:
    """Watch PREFIX through ``queue_url`` until ``sources`` were handed on (or 15 s)."""
    collected: list[NewSource] = []
    with _stopping() as stop:
        count = watch(
            f"s3://{s3.bucket}/{PREFIX}",
            queue_url=queue_url,
            poll_seconds=1,
            stop=stop,
            on_source=collected.append,
            max_sources=sources,
        )
    return count, collected


def _put(s3: S3Env, key: str, data: bytes) -> NewSource:
    s3.client.put_object(Bucket=s3.bucket, Key=key, Body=data)  # type: ignore[attr-defined]
    etag = str(s3.head(key)["ETag"]).strip('"')
    return NewSource(s3.bucket, key, etag, len(data))


def _left_in(s3: S3Env, queue_url: str) -> int:
    """Messages still in the queue, visible or received and not deleted."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    found = sqs_client(s3).get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)
    return sum(int(found["Attributes"][name]) for name in names)


def _body(source: NewSource, key_as_sent: str) -> str:
    """An S3 event notification for ``source``, its key encoded as S3 sends it."""
    record = {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": source.bucket},
            "object": {"key": key_as_sent, "size": source.size, "eTag": source.etag},
        },
    }
    return json.dumps({"Records": [record]})


def test_notifications_announce_the_new_image_under_the_prefix_and_empty_the_queue(
    s3: S3Env, caplog: pytest.LogCaptureFixture
) -> None:
    queue_url, queue_arn = new_queue(s3)
    notify_queue(s3, PREFIX, queue_arn)  # S3 sends its s3:TestEvent first
    _put(s3, f"{PREFIX}notes.txt", b"not an image")
    _put(s3, "elsewhere/logo.png", logo())  # outside the filter: no notification
    expected = _put(s3, f"{PREFIX}my logo.png", logo())

    with caplog.at_level(logging.INFO):
        count, collected = _watch_queue(s3, queue_url, sources=1)

    assert count == 1
    assert collected == [expected]
    assert collected[0].key == "incoming/my logo.png"
    assert parse_s3_uri(collected[0].uri) == (s3.bucket, "incoming/my logo.png")
    assert _left_in(s3, queue_url) == 0
    line = f"New source s3://{s3.bucket}/incoming/my logo.png (etag {expected.etag}): "
    assert line + "image-pipeline.source.created emitted" in caplog.text


def test_a_repeated_notification_gives_the_same_source_twice_and_one_event_id(
    s3: S3Env,
) -> None:
    queue_url, _ = new_queue(s3)
    source = _put(s3, f"{PREFIX}red flower+1.png", logo())
    body = _body(source, "incoming/red+flower%2B1.png")
    sqs = sqs_client(s3)
    for _ in range(2):  # SQS delivers at least once
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)

    count, collected = _watch_queue(s3, queue_url, sources=2)

    assert count == 2
    assert collected == [source, source]
    assert source.key == "incoming/red flower+1.png"
    assert len({source_event_id(new) for new in collected}) == 1
    assert _left_in(s3, queue_url) == 0
    rewritten = NewSource(source.bucket, source.key, "0" * 32, source.size)
    assert source_event_id(rewritten) != source_event_id(source)  # new bytes, new event


@pytest.mark.slow  # over ~3 s: full lane only
def test_the_server_stores_a_source_announced_twice_once(prefect_api_url: str) -> None:
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    source = NewSource(bucket, "incoming/red flower+1.png", "a" * 32, 1234)
    marker = NewSource(bucket, "incoming/marker.png", "b" * 32, 10)
    for announced in (source, source, marker):
        announce_source(announced)

    event_filter = {
        "event": {"name": [SOURCE_CREATED_EVENT]},
        "resource": {"id": [source.uri, marker.uri]},
    }
    events = stored_events(
        prefect_api_url,
        event_filter,
        lambda found: marker.uri in {e["resource"]["prefect.resource.id"] for e in found},
    )

    mine = [event for event in events if event["resource"]["prefect.resource.id"] == source.uri]
    assert [event["id"] for event in mine] == [str(source_event_id(source))]
    assert mine[0]["payload"] == {
        "bucket": bucket,
        "key": "incoming/red flower+1.png",
        "etag": "a" * 32,
        "size": 1234,
    }
    assert mine[0]["resource"]["prefect.resource.name"] == "incoming/red flower+1.png"


def test_listing_reports_new_and_rewritten_images_but_not_unchanged_ones(s3: S3Env) -> None:
    client = cast("S3Client", s3.client)
    _put(s3, f"{PREFIX}same.png", logo())
    _put(s3, f"{PREFIX}rewritten.png", logo())
    _put(s3, f"{PREFIX}readme.txt", b"text")
    listing = PrefixListing(client, s3.bucket, PREFIX)
    assert listing.baseline() == 3
    assert listing.new_sources() == []

    _put(s3, f"{PREFIX}same.png", logo())  # the same bytes again: the same ETag
    rewritten = _put(s3, f"{PREFIX}rewritten.png", logo(seed=2))
    added = _put(s3, f"{PREFIX}added.png", logo())
    _put(s3, f"{PREFIX}folder/", b"")
    _put(s3, f"{PREFIX}more.txt", b"text")
    _put(s3, "elsewhere/outside.png", logo())
    _put(s3, f"{PREFIX}1796639601_generated_logo.png", logo(seed=3))  # an output: never a source

    assert listing.new_sources() == [added, rewritten]
    listing.seen(added)  # announced; rewritten.png was not (its event could not be sent)
    assert listing.new_sources() == [rewritten]  # so it comes back
    listing.seen(rewritten)
    assert listing.new_sources() == []


def test_listing_mode_announces_what_arrives_after_the_baseline_even_past_a_failure(
    s3: S3Env,
) -> None:
    _put(s3, f"{PREFIX}before.png", logo())
    watching = threading.Event()
    warnings: list[str] = []

    class _OnBaseline(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("Watching"):
                watching.set()
            if record.levelno == logging.WARNING:
                warnings.append(record.getMessage())

    attempts: list[NewSource] = []

    def server_away_once(source: NewSource) -> None:
        attempts.append(source)
        if len(attempts) == 1:
            raise RuntimeError("the Prefect server is away")
        collected.append(source)

    logger = logging.getLogger(f"tests.watch.{uuid.uuid4().hex}")
    logger.setLevel(logging.INFO)
    logger.addHandler(_OnBaseline())
    collected: list[NewSource] = []
    counted: list[int] = []
    with _stopping() as stop:
        thread = threading.Thread(
            target=lambda: counted.append(
                watch(
                    f"s3://{s3.bucket}/{PREFIX}",
                    queue_url=None,
                    poll_seconds=0.05,
                    stop=stop,
                    on_source=server_away_once,
                    max_sources=1,
                    logger=logger,
                )
            )
        )
        thread.start()
        assert watching.wait(10)
        after = _put(s3, f"{PREFIX}after.png", logo())
        thread.join(20)

    assert counted == [1]
    assert collected == [after]  # announced once, on the poll after the failed one
    assert attempts == [after, after]
    assert warnings == [
        f"Watching s3://{s3.bucket}/{PREFIX}: RuntimeError: the Prefect server is away; "
        "trying again in 1 s"
    ]


def test_notifications_are_read_direct_or_through_sns_and_keys_decoded() -> None:
    source = NewSource("bucket", "in/a b+c.png", "abc", 3)
    body = _body(source, "in/a+b%2Bc.png")
    assert sources_in_notification(body) == [source]
    wrapped = json.dumps({"Type": "Notification", "Message": body})
    assert sources_in_notification(wrapped) == [source]
    minio = body.replace('"ObjectCreated:Put"', '"s3:ObjectCreated:Put"')
    assert sources_in_notification(minio) == [source]
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "bucket"}
    assert sources_in_notification(json.dumps(test_event)) == []
    removed = body.replace("ObjectCreated:Put", "ObjectRemoved:Delete")
    assert sources_in_notification(removed) == []
    with pytest.raises(NotificationError, match="not JSON"):
        sources_in_notification("hello")
    with pytest.raises(NotificationError, match="no Records"):
        sources_in_notification('{"detail-type": "Object Created"}')


def test_only_images_under_the_prefix_are_watched_and_uris_give_the_key_back() -> None:
    def watched(key: str) -> bool:
        return is_watched(NewSource("bucket", key, "e", 1), "bucket", "in/")

    assert watched("in/a.PNG") and watched("in/deep/b.jpeg") and watched("in/c.webp")
    assert not watched("in/notes.txt") and not watched("in/folder.png/")
    assert not watched("out/a.png") and not watched("in")
    assert not is_watched(NewSource("other", "in/a.png", "e", 1), "bucket", "in/")
    for key in ("in/a#b?.png", "in/100%25 ça.png", "in/x+y.png"):
        assert parse_s3_uri(NewSource("bucket", key, "e", 1).uri) == ("bucket", key)


def test_a_bad_prefix_uri_is_refused_naming_it_and_the_form_expected() -> None:
    assert parse_prefix_uri("s3://my-bucket/incoming/") == ("my-bucket", "incoming/")
    assert parse_prefix_uri(" S3://my-bucket ") == ("my-bucket", "")
    for bad in ("my-bucket/incoming/", "https://my-bucket/x/", "s3://", "s3://My_Bucket/x/"):
        with pytest.raises(InvalidImageSourceError) as refused:
            parse_prefix_uri(bad)
        assert repr(bad) in str(refused.value)
        assert "expected s3://bucket/prefix/ (for example s3://my-bucket/incoming/)" in str(
            refused.value
        )
    with pytest.raises(InvalidImageSourceError, match="Cannot watch 'incoming/'"):
        watch("incoming/", queue_url=None, poll_seconds=1, stop=threading.Event())


def test_long_polls_are_whole_seconds_from_1_to_20() -> None:
    assert [long_poll_seconds(s) for s in (0.05, 1, 2.5, 20, 600)] == [1, 1, 3, 20, 20]


def test_the_flow_announces_a_queued_notification_and_stops_after_max_minutes(
    s3: S3Env,
) -> None:
    queue_url, _ = new_queue(s3)
    source = _put(s3, f"{PREFIX}flow.png", logo())
    sqs_client(s3).send_message(QueueUrl=queue_url, MessageBody=_body(source, "incoming/flow.png"))

    count = watch_sources(
        prefix=f"s3://{s3.bucket}/{PREFIX}",
        queue_url=queue_url,
        poll_seconds=1,
        max_minutes=0.01,
    )

    assert count == 1
    assert _left_in(s3, queue_url) == 0
