"""The lines of a Batch API input file: how the fake validates them and answers them.

Each line is ``{"custom_id", "method": "POST", "url": <the batch's endpoint>, "body"}``
and nothing else. The whole line is checked with ``check_request`` against a TypedDict
whose ``body`` is the endpoint's own request type, so a refusal names its place in the
line (``body.images[0].file_id``) the same way the synchronous routes do:

- ``/v1/responses``: the SDK's ``ResponseCreateParamsNonStreaming``.
- ``/v1/images/edits``: the JSON form of an edit (OpenAI's ``EditImageBodyJsonParam``).
  The SDK's ``images.edit`` is multipart-only, so it has no TypedDict for it; it is built
  here from the same parameters as the multipart route (``_TextFields``, minus the file
  parts), with ``images`` (1 to 16 references) and an optional ``mask``, each exactly
  ``{"image_url": ...}`` (a data URL or an https URL) or ``{"file_id": ...}``.

A file with any bad line fails the batch at validation with every problem listed (as the
API's ``Batch.errors``); a valid line is answered when the batch is processed, with the
same bodies the synchronous routes build, or goes to the error file (a ``file_id`` the
store does not have, a line a test asked to fail).
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
import re
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Required, get_type_hints

import typing_extensions
from openai.types.responses.response_create_params import ResponseCreateParamsNonStreaming
from typing_extensions import TypedDict

from .openai_bodies import _hex_id, _success
from .openai_files import FileStore
from .openai_images_api import IMAGES_EDITS_PATH, _TextFields, edit_answer
from .openai_models import model_refusal
from .openai_requests import RESPONSES_PATH, _image_tool
from .openai_spec import SpecError, check_request

__all__ = [
    "SUPPORTED_ENDPOINTS",
    "LineError",
    "LineFailure",
    "batch_usage",
    "jsonl",
    "parse_lines",
    "process_lines",
    "validate_lines",
]

MAX_IMAGES = 16
_NOT_JSON = ("markup",)  # a file part with no JSON form known here: refused as unknown
_DATA_URL = re.compile(r"^data:(?P<mime>[^;,]*)(?:;[^;,]*)*;base64,(?P<data>.*)$", re.DOTALL)


class _ImageUrlRef(TypedDict):
    image_url: Required[str]


class _FileIdRef(TypedDict):
    file_id: Required[str]


_ImageRef = typing.Union[_ImageUrlRef, _FileIdRef]  # noqa: UP007 (a runtime value)
_EDIT_HINTS: dict[str, Any] = {
    k: v for k, v in get_type_hints(_TextFields, include_extras=True).items() if k not in _NOT_JSON
}
_EDIT_HINTS |= {"images": Required[list[_ImageRef]], "mask": _ImageRef}  # type: ignore[valid-type]
_JsonImageEdit = typing_extensions.TypedDict("_JsonImageEdit", _EDIT_HINTS, total=False)  # type: ignore[misc]


class _ImagesEditLine(TypedDict):
    custom_id: str
    method: Literal["POST"]
    url: Literal["/v1/images/edits"]
    body: _JsonImageEdit  # type: ignore[valid-type]


class _ResponsesLine(TypedDict):
    custom_id: str
    method: Literal["POST"]
    url: Literal["/v1/responses"]
    body: ResponseCreateParamsNonStreaming


SUPPORTED_ENDPOINTS: dict[str, Any] = {
    IMAGES_EDITS_PATH: _ImagesEditLine,
    RESPONSES_PATH: _ResponsesLine,
}


@dataclass(frozen=True)
class LineError:
    """A line that fails the batch's validation (``line`` counts from 1)."""

    line: int
    error: SpecError
    code: str

    def batch_error(self) -> dict[str, Any]:
        """The item of ``Batch.errors.data``."""
        param = None if self.error.param == "(body)" else self.error.param
        return {"code": self.code, "message": self.error.message, "param": param, "line": self.line}


@dataclass(frozen=True)
class LineFailure:
    """How a line that is not answered 200 fails: its status and the error object."""

    status: int
    code: str | None
    message: str
    param: str | None = None


def parse_lines(content: bytes) -> list[dict[str, Any]]:
    """The lines of ``content`` that are JSON objects, in file order."""
    parsed = []
    for text in content.decode("utf-8", "replace").splitlines():
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, dict):
            parsed.append(value)
    return parsed


def validate_lines(content: bytes, endpoint: str) -> tuple[list[dict[str, Any]], list[LineError]]:
    """The lines of a batch input file, and every problem that makes it fail validation."""
    lines: list[dict[str, Any]] = []
    errors: list[LineError] = []
    seen: dict[str, int] = {}
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        problem = "the file is not UTF-8 text"
        return [], [LineError(1, SpecError("(body)", problem, "invalid_type"), "invalid_file")]
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        refused = _line_error(raw, endpoint, seen)
        if refused is not None:
            errors.append(LineError(number, *refused))
            continue
        line = json.loads(raw)
        seen[line["custom_id"]] = number
        lines.append(line)
    if not lines and not errors:
        problem = "the batch input file has no requests"
        errors.append(LineError(1, SpecError("(body)", problem, "invalid_value"), "empty_file"))
    return lines, errors


def _line_error(raw: str, endpoint: str, seen: Mapping[str, int]) -> tuple[SpecError, str] | None:
    """Why one line fails validation, with the ``Batch.errors`` code; None when it is fine."""
    try:
        line = json.loads(raw)
    except ValueError:
        problem = "this line is not parseable as valid JSON"
        return SpecError("(body)", problem, "invalid_type"), "invalid_json_line"
    error = check_request(line, SUPPORTED_ENDPOINTS[endpoint]) or _semantics(line, endpoint)
    if error is not None:
        return error, error.code
    if line["custom_id"] in seen:
        problem = f"duplicate custom_id (first on line {seen[line['custom_id']]})"
        return SpecError("custom_id", problem, "invalid_value"), "duplicate_custom_id"
    return None


def _semantics(line: dict[str, Any], endpoint: str) -> SpecError | None:
    """What the types cannot say: how many images, and which URLs the API can read."""
    if endpoint != IMAGES_EDITS_PATH:
        return None
    body = line["body"]
    images = body["images"]
    if not images or len(images) > MAX_IMAGES:
        problem = f"expected 1 to {MAX_IMAGES} images, got {len(images)}"
        return SpecError("body.images", problem, "invalid_value")
    refs = [(f"body.images[{i}]", ref) for i, ref in enumerate(images)]
    refs += [("body.mask", body["mask"])] if "mask" in body else []
    for param, ref in refs:
        url = ref.get("image_url")
        if url is not None and not url.startswith(("data:", "https://")):
            problem = f"invalid value {url[:40]!r}; expected a data URL or an https URL"
            return SpecError(f"{param}.image_url", problem, "invalid_value")
    return None


class _LineRefusedError(Exception):
    def __init__(self, failure: LineFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def process_lines(
    lines: Iterable[dict[str, Any]],
    store: FileStore,
    forced: Callable[[dict[str, Any]], LineFailure | None],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Answer ``lines``: the output-file lines (answered 200), the error-file lines, and
    the answers' usage summed as ``Batch.usage``. ``forced`` says which lines must fail."""
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    usages: list[Mapping[str, Any]] = []
    for line in lines:
        failure = forced(line)
        if failure is None:
            try:
                answer = _answer(line, store)
            except _LineRefusedError as refused:
                failure = refused.failure
            else:
                results.append(_result_line(line, 200, answer))
                usages.append(answer.get("usage") or {})
                continue
        error: dict[str, Any] = {"message": failure.message, "type": "invalid_request_error"}
        error |= {"param": failure.param, "code": failure.code}
        errors.append(_result_line(line, failure.status, {"error": error}))
    return results, errors, batch_usage(usages)


def batch_usage(usages: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """``Batch.usage``: the answers' token counts summed (none cached, as here)."""
    input_tokens = output_tokens = reasoning = 0
    for usage in usages:
        input_tokens += int(usage.get("input_tokens", 0))
        output_tokens += int(usage.get("output_tokens", 0))
        reasoning += int((usage.get("output_tokens_details") or {}).get("reasoning_tokens", 0))
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input_tokens + output_tokens,
    }


def jsonl(results: Iterable[Mapping[str, Any]]) -> bytes:
    """Result lines as a JSONL file's bytes."""
    return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in results).encode()


def _result_line(line: Mapping[str, Any], status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": _hex_id("batch_req"),
        "custom_id": line["custom_id"],
        "response": {"status_code": status, "request_id": _hex_id("req"), "body": body},
        "error": None,
    }


def _answer(line: Mapping[str, Any], store: FileStore) -> dict[str, Any]:
    body = line["body"]
    on_responses = line["url"] == RESPONSES_PATH
    tool = (_image_tool(body) or {}) if on_responses else body
    refusal = model_refusal(tool, "tools[0]." if on_responses else "")
    if refusal is not None:  # what the image model refuses, as the interactive API does
        raise _LineRefusedError(
            LineFailure(400, refusal["code"], refusal["message"], refusal["param"])
        )
    if on_responses:
        if not body.get("model"):
            message = "Missing required parameter: 'model'."
            raise _LineRefusedError(
                LineFailure(400, "missing_required_parameter", message, "model")
            )
        return _success(body)
    images = [_image(ref, f"images[{i}]", store) for i, ref in enumerate(body["images"])]
    if "mask" in body:
        _image(body["mask"], "mask", store)
    fields = {k: v for k, v in body.items() if k not in ("images", "mask")}
    data, mime = images[0]
    return edit_answer(data, mime, fields, len(images))


def _image(ref: Mapping[str, str], param: str, store: FileStore) -> tuple[bytes, str]:
    """A reference's bytes and mime: a data URL decoded, a file from the store, or nothing
    for an https URL (the fake cannot download it)."""
    if "file_id" in ref:
        found = store.get(ref["file_id"])
        if found is None:
            message = f"No such File object: {ref['file_id']}"
            raise _LineRefusedError(LineFailure(400, None, message, f"{param}.file_id"))
        obj, data = found
        return data, mimetypes.guess_type(obj["filename"])[0] or "application/octet-stream"
    url = ref["image_url"]
    match = _DATA_URL.match(url)
    if match is None:
        return b"", ""
    try:
        return base64.b64decode("".join(match["data"].split()), validate=True), match["mime"]
    except (binascii.Error, ValueError):
        message = "Invalid base64 data in image_url."
        raise _LineRefusedError(
            LineFailure(400, "invalid_image_url", message, f"{param}.image_url")
        ) from None
