"""The fake's Batch and Files APIs, driven by the real openai client.

Time is the fake's simulated ``batch_clock``: each ``batches.retrieve`` moves it by
``batch_seconds_per_poll``, so no test sleeps, however long a batch "takes".
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from typing import Any, Literal

import openai
import pytest
from openai.types import Batch, FileDeleted, FileObject, ImagesResponse
from openai.types.responses import Response
from PIL import Image

from tests.fake_clients import API_KEY, create_kwargs, data_url, make_client, png_bytes
from tests.fakes.openai_server import FakeOpenAIServer, Fault

# Every client a test makes is closed after it (tests/conftest.py: close_clients).
pytestmark = pytest.mark.usefixtures("close_clients")

EDITS: Literal["/v1/images/edits"] = "/v1/images/edits"
TERMINAL = {"completed", "failed", "expired", "cancelled"}
RED = (200, 10, 30)


@pytest.fixture
def slow_fake() -> Iterator[FakeOpenAIServer]:
    """A fake whose batches spend 600 simulated seconds in progress (10 polls of 60 s)."""
    with FakeOpenAIServer(api_key=API_KEY, batch_duration=600, batch_seconds_per_poll=60) as server:
        yield server
        assert server.errors == 0, "the fake itself raised"


def edit_line(custom_id: str, size: str = "64x48", **body: Any) -> dict[str, Any]:
    """One /v1/images/edits line, in the JSON form of the edit."""
    body = {
        "model": "gpt-image-2",  # any WIDTHxHEIGHT (gpt-image-1 is shut down)
        "prompt": f"Recreate image {custom_id}.",
        "images": [{"image_url": data_url(png_bytes())}],
        "size": size,
        "output_format": "png",
        "quality": "low",
        **body,
    }
    return {"custom_id": custom_id, "method": "POST", "url": EDITS, "body": body}


def to_jsonl(lines: list[Any]) -> bytes:
    return "".join(
        (line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines
    ).encode()


def upload(client: openai.OpenAI, lines: list[Any]) -> FileObject:
    return client.files.create(
        file=("requests.jsonl", to_jsonl(lines)),
        purpose="batch",
        expires_after={"anchor": "created_at", "seconds": 3600},
    )


def start(client: openai.OpenAI, lines: list[Any], endpoint: Any = EDITS, **options: Any) -> Batch:
    uploaded = upload(client, lines)
    return client.batches.create(
        input_file_id=uploaded.id, endpoint=endpoint, completion_window="24h", **options
    )


def poll(client: openai.OpenAI, batch_id: str, limit: int = 40) -> list[str]:
    """Statuses seen by retrieving until the batch ends (failing if it never does)."""
    seen: list[str] = []
    for _ in range(limit):
        seen.append(client.batches.retrieve(batch_id).status)
        if seen[-1] in TERMINAL:
            return seen
    raise AssertionError(f"batch still {seen[-1]!r} after {limit} polls")


def results(client: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    assert file_id is not None
    return [json.loads(text) for text in client.files.content(file_id).text.splitlines()]


def decoded(result: dict[str, Any]) -> Image.Image:
    answer = ImagesResponse.model_validate(result["response"]["body"])
    assert answer.data and answer.data[0].b64_json
    return Image.open(io.BytesIO(base64.b64decode(answer.data[0].b64_json)))


# ---------------------------------------------------------------------------
# the happy path
# ---------------------------------------------------------------------------


def test_an_images_batch_goes_validating_in_progress_finalizing_completed(
    fake: FakeOpenAIServer,
) -> None:
    client = make_client(fake)
    sizes = {"a": "64x48", "b": "32x32", "c": "16x24"}
    lines = [edit_line(custom_id, size) for custom_id, size in sizes.items()]
    uploaded = upload(client, lines)
    assert uploaded.id.startswith("file-") and uploaded.object == "file"
    assert (uploaded.purpose, uploaded.status, uploaded.filename) == (
        "batch",
        "processed",
        "requests.jsonl",
    )
    assert uploaded.bytes == len(to_jsonl(lines))
    assert uploaded.expires_at == uploaded.created_at + 3600
    assert fake.files[uploaded.id][1] == to_jsonl(lines)  # the bytes kept exactly

    batch = client.batches.create(
        input_file_id=uploaded.id,
        endpoint=EDITS,
        completion_window="24h",
        metadata={"run": "r-1"},
    )
    assert batch.status == "validating" and batch.id.startswith("batch_")
    assert batch.expires_at == batch.created_at + 86400
    assert batch.request_counts is not None
    assert batch.request_counts.model_dump() == {"total": 3, "completed": 0, "failed": 0}
    assert batch.metadata == {"run": "r-1"}
    assert fake.batch_input_lines(batch.id) == lines

    assert poll(client, batch.id) == ["in_progress", "finalizing", "completed"]
    done = client.batches.retrieve(batch.id)
    Batch.model_validate(fake.batch(batch.id))  # full validation, not lenient construction
    assert done.in_progress_at and done.finalizing_at and done.completed_at
    assert done.created_at <= done.in_progress_at <= done.finalizing_at <= done.completed_at
    assert done.request_counts is not None
    assert done.request_counts.model_dump() == {"total": 3, "completed": 3, "failed": 0}
    assert done.error_file_id is None and done.errors is None
    assert done.usage is not None and done.usage.output_tokens > 0

    output = results(client, done.output_file_id)
    ids = [result["custom_id"] for result in output]
    assert sorted(ids) == ["a", "b", "c"]
    assert ids != ["a", "b", "c"]  # not in file order: clients must match by custom_id
    for result in output:
        assert result["id"].startswith("batch_req_") and result["error"] is None
        assert result["response"]["status_code"] == 200
        assert result["response"]["request_id"].startswith("req_")
        image = decoded(result)
        assert image.format == "PNG"
        assert "x".join(map(str, image.size)) == sizes[result["custom_id"]]
    output_file = client.files.retrieve(done.output_file_id or "")
    assert output_file.purpose == "batch_output"
    assert fake.batch_lines_answered == 3 and fake.spec_errors == []


def test_the_upload_is_recorded_without_its_bytes(fake: FakeOpenAIServer) -> None:
    upload(make_client(fake), [edit_line("a")])
    (sent,) = [r for r in fake.history if r.path == "/v1/files"]
    assert sent.method == "POST" and sent.spec_error is None
    assert sent.json == {
        "purpose": "batch",
        "expires_after": {"anchor": "created_at", "seconds": 3600},
        "_file": [("requests.jsonl", "application/octet-stream", len(to_jsonl([edit_line("a")])))],
    }


def test_batch_lines_spend_neither_the_rate_limit_nor_the_fault_queue() -> None:
    with FakeOpenAIServer(api_key=API_KEY, images_per_minute=0.001) as fake:
        client = make_client(fake)
        fake.enqueue(Fault.server_error())
        batch = start(client, [edit_line(str(i)) for i in range(5)])
        assert poll(client, batch.id)[-1] == "completed"
        assert (fake.rate_limited, fake.pending_faults, fake.batch_lines_answered) == (0, 1, 5)
        assert fake.errors == 0


def test_a_batch_of_responses_lines_answers_each_with_a_response(fake: FakeOpenAIServer) -> None:
    client = make_client(fake)
    lines = [
        {"custom_id": f"r{i}", "method": "POST", "url": "/v1/responses", "body": create_kwargs()}
        for i in range(2)
    ]
    batch = start(client, lines, endpoint="/v1/responses")
    assert poll(client, batch.id) == ["in_progress", "finalizing", "completed"]
    assert client.batches.retrieve(batch.id).model == "gpt-5"
    output = results(client, client.batches.retrieve(batch.id).output_file_id)
    assert sorted(result["custom_id"] for result in output) == ["r0", "r1"]
    for result in output:
        response = Response.model_validate(result["response"]["body"])
        assert [item.type for item in response.output] == ["image_generation_call"]
    assert fake.responses_requests == []  # answered inside the batch, not as requests


def test_file_id_images_are_read_from_the_file_store(fake: FakeOpenAIServer) -> None:
    client = make_client(fake)
    image = client.files.create(file=("red.png", png_bytes((8, 6), RED)), purpose="vision")
    lines = [edit_line("f", "8x6", images=[{"file_id": image.id}])]
    batch = start(client, lines)
    poll(client, batch.id)
    (result,) = results(client, client.batches.retrieve(batch.id).output_file_id)
    picture = decoded(result).convert("RGBA")
    assert picture.size == (8, 6) and picture.getpixel((3, 3)) == (*RED, 255)


def test_a_batch_that_takes_600_seconds_needs_ten_polls_at_60(
    slow_fake: FakeOpenAIServer,
) -> None:
    client = make_client(slow_fake)
    batch = start(client, [edit_line("a")])
    before = slow_fake.batch_clock.now()
    seen = poll(client, batch.id)
    assert seen == ["in_progress"] * 10 + ["finalizing", "completed"]
    assert slow_fake.batch_clock.now() == pytest.approx(before + 60 * len(seen))
    done = client.batches.retrieve(batch.id)
    assert done.finalizing_at and done.in_progress_at
    assert done.finalizing_at - done.in_progress_at == 600


# ---------------------------------------------------------------------------
# listing
# ---------------------------------------------------------------------------


def test_list_pages_newest_first_with_current_statuses(fake: FakeOpenAIServer) -> None:
    client = make_client(fake)
    created = [start(client, [edit_line("a")], metadata={"n": str(n)}).id for n in range(3)]
    client.batches.retrieve(created[0])  # now in progress
    now = fake.batch_clock.now()

    first = client.batches.list(limit=1)
    assert [b.id for b in first.data] == [created[2]] and first.has_more is True
    listed = list(client.batches.list(limit=1))  # auto-pagination, one batch a page
    assert [b.id for b in listed] == created[::-1]
    assert [b.metadata for b in listed] == [{"n": "2"}, {"n": "1"}, {"n": "0"}]
    assert [b.status for b in listed] == ["validating", "validating", "in_progress"]
    assert fake.batch_clock.now() == now  # listing does not move time
    pages = [r for r in fake.history if r.method == "GET" and r.path == "/v1/batches"]
    assert len(pages) == 4  # the first page, then three pages of the iteration
    raw = client.batches.with_raw_response.list(limit=2).http_response.json()
    assert (raw["object"], raw["first_id"], raw["last_id"]) == ("list", created[2], created[1])
    assert [b["id"] for b in fake.batches] == created


def test_list_refuses_a_bad_query(fake: FakeOpenAIServer) -> None:
    client = make_client(fake)
    with pytest.raises(openai.BadRequestError) as refused:
        client.batches.list(limit=0)
    assert refused.value.body["param"] == "limit"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError):
        client.batches.list(extra_query={"order": "asc"})
    assert [e.param for e in fake.spec_errors] == ["limit", "order"]


# ---------------------------------------------------------------------------
# cancel, expiry, failed lines
# ---------------------------------------------------------------------------


def test_a_cancelled_batch_keeps_the_lines_done_before_the_cancel(
    slow_fake: FakeOpenAIServer,
) -> None:
    client = make_client(slow_fake)
    lines = [edit_line(c) for c in "abcd"]
    batch = start(client, lines)
    assert [client.batches.retrieve(batch.id).status for _ in range(6)] == ["in_progress"] * 6
    # 300 of 600 simulated seconds in progress: half the lines are done.
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status == "cancelling" and cancelling.cancelling_at
    assert poll(client, batch.id) == ["cancelled"]
    cancelled = client.batches.retrieve(batch.id)
    assert cancelled.cancelled_at and cancelled.request_counts is not None
    assert cancelled.request_counts.model_dump() == {"total": 4, "completed": 2, "failed": 0}
    output = results(client, cancelled.output_file_id)
    assert sorted(result["custom_id"] for result in output) == ["a", "b"]
    assert slow_fake.batch_lines_answered == 2
    with pytest.raises(openai.BadRequestError, match="status 'cancelled'"):
        client.batches.cancel(batch.id)


def test_expire_next_batch_answers_only_its_first_lines(fake: FakeOpenAIServer) -> None:
    client = make_client(fake)
    fake.expire_next_batch(done=2)
    expiring = start(client, [edit_line(c) for c in "abcde"])
    after = start(client, [edit_line("z")])
    assert poll(client, expiring.id) == ["in_progress", "expired"]
    expired = client.batches.retrieve(expiring.id)
    assert expired.expired_at and expired.completed_at is None
    assert expired.request_counts is not None
    assert expired.request_counts.model_dump() == {"total": 5, "completed": 2, "failed": 0}
    assert expired.error_file_id is None  # the lines not done are in no file
    output = results(client, expired.output_file_id)
    assert sorted(result["custom_id"] for result in output) == ["a", "b"]
    assert poll(client, after.id)[-1] == "completed"  # only the next batch expires
    assert fake.batch_lines_answered == 3


def test_a_batch_past_its_window_expires_with_the_lines_done() -> None:
    with FakeOpenAIServer(api_key=API_KEY, batch_duration=2 * 86400) as slow:
        client = make_client(slow)
        batch = start(client, [edit_line(c) for c in "abcd"])
        assert client.batches.retrieve(batch.id).status == "in_progress"
        slow.batch_clock.advance(86400)
        (listed,) = client.batches.list().data  # the list shows it expired
        assert listed.status == "expired" and listed.expired_at
        assert listed.request_counts is not None and listed.request_counts.completed == 2
        assert slow.errors == 0


def test_lines_a_test_fails_go_to_the_error_file(fake: FakeOpenAIServer) -> None:
    client = make_client(fake)
    fake.fail_batch_lines(lambda line: line["custom_id"] == "b")
    missing = edit_line("m", images=[{"file_id": "file-missing"}])
    batch = start(client, [edit_line("a"), edit_line("b"), missing, edit_line("c")])
    assert poll(client, batch.id)[-1] == "completed"
    done = client.batches.retrieve(batch.id)
    assert done.request_counts is not None
    assert done.request_counts.model_dump() == {"total": 4, "completed": 2, "failed": 2}
    errors = {result["custom_id"]: result for result in results(client, done.error_file_id)}
    assert sorted(errors) == ["b", "m"]
    blocked = errors["b"]["response"]
    assert blocked["status_code"] == 400 and blocked["request_id"].startswith("req_")
    assert blocked["body"] == {
        "error": {
            "message": "Your request was rejected by the safety system.",
            "type": "invalid_request_error",
            "param": None,
            "code": "moderation_blocked",
        }
    }
    unknown = errors["m"]["response"]
    assert unknown["status_code"] == 400
    assert unknown["body"]["error"]["type"] == "invalid_request_error"
    assert "file-missing" in unknown["body"]["error"]["message"]
    assert sorted(r["custom_id"] for r in results(client, done.output_file_id)) == ["a", "c"]
    assert fake.batch_lines_answered == 2


def test_a_line_the_image_model_refuses_goes_to_the_error_file(fake: FakeOpenAIServer) -> None:
    client = make_client(fake)
    default_model = edit_line("t", background="transparent")
    default_model.get("body", {}).pop("model")
    batch = start(client, [default_model, edit_line("ok")])
    assert poll(client, batch.id)[-1] == "completed"
    done = client.batches.retrieve(batch.id)
    (refused,) = results(client, done.error_file_id)
    assert refused["custom_id"] == "t"
    error = refused["response"]["body"]["error"]
    assert (error["code"], error["param"]) == ("invalid_value", "background")
    assert error["message"] == "Transparent background is not supported for this model."
    assert [r["custom_id"] for r in results(client, done.output_file_id)] == ["ok"]


def test_bad_lines_fail_the_batch_with_every_problem(fake: FakeOpenAIServer) -> None:
    client = make_client(fake)
    both = edit_line("both", images=[{"image_url": data_url(png_bytes()), "file_id": "file-1"}])
    wrong_url = {**edit_line("url"), "url": "/v1/responses"}
    lines: list[Any] = [
        edit_line("ok"),
        edit_line("colour", colour="red"),
        both,
        "{not json",
        edit_line("ok"),
        wrong_url,
        {**edit_line("extra"), "priority": 1},
        edit_line("none", images=[]),
    ]
    batch = start(client, lines)
    assert poll(client, batch.id) == ["failed"]
    failed = client.batches.retrieve(batch.id)
    assert failed.failed_at and failed.output_file_id is None and failed.in_progress_at is None
    assert failed.errors is not None and failed.errors.object == "list"
    found = [(e.line, e.code, e.param) for e in failed.errors.data or []]
    assert found == [
        (2, "unknown_parameter", "body.colour"),
        (3, "unknown_parameter", "body.images[0].file_id"),
        (4, "invalid_json_line", None),
        (5, "duplicate_custom_id", "custom_id"),
        (6, "invalid_value", "url"),
        (7, "unknown_parameter", "priority"),
        (8, "invalid_value", "body.images"),
    ]
    assert all(e.message for e in failed.errors.data or [])
    assert [e.param for e in fake.spec_errors] == [
        "body.colour",
        "body.images[0].file_id",
        "(body)",
        "custom_id",
        "url",
        "priority",
        "body.images",
    ]
    assert fake.batch_lines_answered == 0


# ---------------------------------------------------------------------------
# refused requests, the Files API, auth, reset
# ---------------------------------------------------------------------------


def test_a_bad_create_body_is_refused_with_400(fake: FakeOpenAIServer) -> None:
    client = make_client(fake)
    uploaded = upload(client, [edit_line("a")])
    create = {"input_file_id": uploaded.id, "endpoint": EDITS, "completion_window": "24h"}
    with pytest.raises(openai.BadRequestError) as unknown:
        client.batches.create(**create, extra_body={"priority": "high"})  # type: ignore[arg-type]
    assert unknown.value.body == {  # type: ignore[comparison-overlap]
        "message": "priority: unknown parameter",
        "type": "invalid_request_error",
        "param": "priority",
        "code": "unknown_parameter",
    }
    with pytest.raises(openai.BadRequestError) as window:
        client.batches.create(**{**create, "completion_window": "48h"})  # type: ignore[arg-type]
    assert window.value.code == "invalid_value"
    assert [e.param for e in fake.spec_errors] == ["priority", "completion_window"]
    with pytest.raises(openai.BadRequestError, match="not supported by this fake"):
        client.batches.create(**{**create, "endpoint": "/v1/embeddings"})  # type: ignore[arg-type]
    vision = client.files.create(file=("a.png", png_bytes()), purpose="vision")
    with pytest.raises(openai.BadRequestError, match="purpose"):
        client.batches.create(**{**create, "input_file_id": vision.id})  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError, match="file-nope"):
        client.batches.create(**{**create, "input_file_id": "file-nope"})  # type: ignore[arg-type]
    assert fake.batches == []


def test_a_bad_upload_is_refused_with_400(fake: FakeOpenAIServer) -> None:
    client = make_client(fake)
    with pytest.raises(openai.BadRequestError):
        client.files.create(file=("a.jsonl", b"{}"), purpose="batches")  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError):
        client.files.create(
            file=("a.jsonl", b"{}"),
            purpose="batch",
            expires_after={"anchor": "created_at", "seconds": 60},
        )
    with pytest.raises(openai.BadRequestError):
        client.files.create(
            file=("a.jsonl", b"{}"),
            purpose="batch",
            expires_after={"anchor": "now", "seconds": 3600},  # type: ignore[arg-type,typeddict-item]
        )
    assert [e.param for e in fake.spec_errors] == [
        "purpose",
        "expires_after.seconds",
        "expires_after.anchor",
    ]
    assert fake.files == {}


def test_files_can_be_read_and_deleted(fake: FakeOpenAIServer) -> None:
    client = make_client(fake)
    content = b'{"x": 1}\r\n{"y": 2}\n\n'
    uploaded = client.files.create(file=("data.jsonl", content), purpose="user_data")
    assert uploaded.expires_at is None
    assert client.files.retrieve(uploaded.id) == uploaded
    assert client.files.content(uploaded.id).content == content
    deleted = client.files.delete(uploaded.id)
    assert isinstance(deleted, FileDeleted)
    assert (deleted.id, deleted.deleted, deleted.object) == (uploaded.id, True, "file")
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(uploaded.id)
    with pytest.raises(openai.NotFoundError):
        client.files.content(uploaded.id)
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_nope")


def test_every_route_needs_the_key(fake: FakeOpenAIServer) -> None:
    client = make_client(fake, api_key="sk-wrong")
    with pytest.raises(openai.AuthenticationError):
        client.files.create(file=("a.jsonl", b"{}"), purpose="batch")
    with pytest.raises(openai.AuthenticationError):
        client.batches.list()
    with pytest.raises(openai.AuthenticationError):
        client.batches.create(input_file_id="file-x", endpoint=EDITS, completion_window="24h")
    assert fake.files == {} and fake.batches == []
    assert len(fake.history) == 3


def test_reset_clears_batches_and_files(fake: FakeOpenAIServer) -> None:
    client = make_client(fake)
    batch = start(client, [edit_line("a")])
    poll(client, batch.id)
    fake.expire_next_batch(done=0)
    fake.reset()
    assert (fake.batches, fake.files, fake.batch_lines_answered) == ([], {}, 0)
    assert poll(client, start(client, [edit_line("a")]).id)[-1] == "completed"
