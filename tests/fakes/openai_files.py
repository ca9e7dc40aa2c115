"""The fake's Files API: ``POST /v1/files``, ``GET /v1/files/{id}[/content]``, ``DELETE``.

The Batch API reads its requests from an uploaded JSONL file and writes its answers to
files the client downloads, so the batch fake needs a file store behind it. Uploads are
checked the way the rest of the fake checks bodies: the openai client sends a multipart
form (a ``file`` part, ``purpose``, and ``expires_after`` flattened into
``expires_after[anchor]`` / ``expires_after[seconds]`` text fields), which is folded back
into the nested shape and checked against the SDK's own ``FileCreateParams`` (unknown
fields refused, ``purpose`` a ``FilePurpose``). The store keeps every file's bytes so
tests can read what a client uploaded and what a batch wrote.

Routes here return a ``Route``: what to record, the spec error if any, and ``run()``,
called only once the handler has checked the API key, which performs the action and
gives the ``Reply`` to send.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, get_type_hints

import typing_extensions
from openai.types.file_create_params import FileCreateParams

from .openai_images_api import ImagesForm, parse_form
from .openai_spec import SpecError, check_request

__all__ = ["FILES_PATH", "FileStore", "Reply", "Route"]

FILES_PATH = "/v1/files"
_EXPIRY_SECONDS = (3600, 2592000)  # what the API accepts for expires_after.seconds
_NESTED = re.compile(r"^(?P<outer>[^\[\]]+)\[(?P<inner>[^\[\]]+)\]$")
# FileCreateParams minus the file part (checked apart: the spec checker reads JSON-shaped
# values), with their Required qualifiers kept.
_UploadFields = typing_extensions.TypedDict(  # type: ignore[misc]
    "_UploadFields",
    {
        name: hint
        for name, hint in get_type_hints(FileCreateParams, include_extras=True).items()
        if name != "file"
    },
    total=False,
)


@dataclass(frozen=True)
class Reply:
    """One HTTP answer: status, body, content type, and the spec errors to book (a body
    refused, or the bad lines a batch's validation found)."""

    status: int
    body: bytes
    content_type: str = "application/json"
    refused: tuple[SpecError, ...] = ()


@dataclass(frozen=True)
class Route:
    """A parsed request: what history records, its spec error, and the action to run."""

    run: Callable[[], Reply]
    recorded: Any = None
    spec_error: SpecError | None = field(default=None)


def json_reply(status: int, payload: Mapping[str, Any]) -> Reply:
    return Reply(status, json.dumps(payload, separators=(",", ":")).encode())


def error_reply(
    status: int, message: str, *, code: str | None = None, param: str | None = None
) -> Reply:
    """OpenAI's error shape, always an ``invalid_request_error`` here."""
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return json_reply(status, {"error": error})


def refused_reply(error: SpecError) -> Reply:
    """The 400 for a body that breaks the SDK's request types (booked in spec_errors)."""
    return Reply(400, json_reply(400, {"error": error.error()}).body, refused=(error,))


def not_found(kind: str, object_id: str) -> Reply:
    """The API's 404 for an id it does not know (``kind``: "File", "Batch")."""
    return error_reply(404, f"No such {kind} object: {object_id}", param="id")


class FileStore:
    """Uploaded and generated files: id -> (FileObject dict, bytes). Thread-safe."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._lock = threading.Lock()
        self._files: dict[str, tuple[dict[str, Any], bytes]] = {}

    def add(
        self, filename: str, purpose: str, content: bytes, expires_after: int | None = None
    ) -> dict[str, Any]:
        """Store ``content``; returns (a copy of) its FileObject."""
        created = int(self._now())
        obj: dict[str, Any] = {
            "id": f"file-{secrets.token_hex(12)}",
            "object": "file",
            "bytes": len(content),
            "created_at": created,
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
            "expires_at": None if expires_after is None else created + expires_after,
            "status_details": None,
        }
        with self._lock:
            self._files[obj["id"]] = (obj, content)
        return copy.deepcopy(obj)

    def get(self, file_id: str) -> tuple[dict[str, Any], bytes] | None:
        with self._lock:
            found = self._files.get(file_id)
        return None if found is None else (copy.deepcopy(found[0]), found[1])

    def delete(self, file_id: str) -> bool:
        with self._lock:
            return self._files.pop(file_id, None) is not None

    def snapshot(self) -> dict[str, tuple[dict[str, Any], bytes]]:
        with self._lock:
            return {k: (copy.deepcopy(obj), data) for k, (obj, data) in self._files.items()}

    def clear(self) -> None:
        with self._lock:
            self._files.clear()


def route_files(
    store: FileStore, method: str, path: str, content_type: str, raw: bytes, body: Any
) -> Route | None:
    """The route for a ``/v1/files`` request, or None when the path is not one."""
    parts = path.removeprefix(FILES_PATH).strip("/").split("/")
    if method == "POST" and parts == [""]:
        return _upload(store, content_type, raw)
    if len(parts) == 1 and parts[0] and method in ("GET", "DELETE"):
        file_id = parts[0]
        return Route(lambda: _object(store, file_id, delete=method == "DELETE"), body)
    if len(parts) == 2 and parts[1] == "content" and method == "GET":
        return Route(lambda: _content(store, parts[0]), body)
    return None


def _upload(store: FileStore, content_type: str, raw: bytes) -> Route:
    form = parse_form(content_type, raw)
    if form is None:
        return Route(lambda: error_reply(400, "Expected a multipart form"))
    fields = upload_fields(form)
    recorded = {**fields, "_file": [(n, m, len(d)) for n, m, d in form.files.get("file", [])]}
    error = check_upload(form, fields)
    if error is not None:
        return Route(lambda: refused_reply(error), recorded, error)

    def run() -> Reply:
        name, _, content = form.files["file"][0]
        seconds = fields.get("expires_after", {}).get("seconds")
        return json_reply(200, store.add(name, fields["purpose"], content, seconds))

    return Route(run, recorded)


def upload_fields(form: ImagesForm) -> dict[str, Any]:
    """The form's text fields in the JSON shape the SDK flattened: ``a[b]`` -> ``{a: {b}}``,
    digit strings where the params declare an int."""
    body: dict[str, Any] = {}
    for name, value in form.fields.items():
        match = _NESTED.match(name)
        if match is None:
            body[name] = value
            continue
        inner = body.setdefault(match["outer"], {})
        if not isinstance(inner, dict):  # both ``a`` and ``a[b]`` sent: keep the clash visible
            body[name] = value
            continue
        digits = match["inner"] == "seconds" and value.lstrip("-").isdigit()
        inner[match["inner"]] = int(value) if digits else value
    return body


def check_upload(form: ImagesForm, fields: dict[str, Any]) -> SpecError | None:
    """The first way the upload breaks the SDK's FileCreateParams, or None."""
    unknown = [name for name in form.files if name != "file"]
    if unknown:
        return SpecError(unknown[0], "unknown parameter", "unknown_parameter")
    if len(form.files.get("file", [])) != 1:
        return SpecError("file", "expected exactly one file part", "missing_required_parameter")
    error = check_request(fields, _UploadFields)
    if error is not None:
        return error
    seconds = fields.get("expires_after", {}).get("seconds")
    low, high = _EXPIRY_SECONDS
    if seconds is not None and not low <= seconds <= high:
        problem = f"invalid value {seconds}; expected between {low} and {high}"
        return SpecError("expires_after.seconds", problem, "invalid_value")
    return None


def _object(store: FileStore, file_id: str, *, delete: bool) -> Reply:
    found = store.get(file_id)
    if found is None:
        return not_found("File", file_id)
    if delete:
        store.delete(file_id)
        return json_reply(200, {"id": file_id, "object": "file", "deleted": True})
    return json_reply(200, found[0])


def _content(store: FileStore, file_id: str) -> Reply:
    found = store.get(file_id)
    if found is None:
        return not_found("File", file_id)
    return Reply(200, found[1], "application/octet-stream")
