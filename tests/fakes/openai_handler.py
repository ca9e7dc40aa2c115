"""The HTTP side of the fake OpenAI server: routing, auth, validation, faults, headers.

Every request is recorded first. ``POST /v1/images/edits`` is served with
``openai_images_api``; the Files and Batch APIs by the routes of ``openai_batch_routes``
(which parse and check the request, then act only once the key is checked). The rest of
this module serves ``POST /v1/responses``. Its body is checked against the openai SDK's
request types (``openai_spec``), always: a body that breaks them is refused with OpenAI's
400 (before any queued fault is consumed) and booked in the server's ``spec_errors``. A
valid request is answered after the server's ``latency`` with the prepared body, or with
the next queued ``Fault``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from .loopback import LoopbackHandler
from .openai_batch_routes import route_stored
from .openai_bodies import (
    _dumps,
    _failed_call_item,
    _hex_id,
    _message_item,
    _response_object,
    _success,
)
from .openai_faults import _IMAGE_URL, _MODEL, _REQUEST_ID, Fault, _incorrect_key_message
from .openai_files import Route
from .openai_images_api import IMAGES_EDITS_PATH, check_form, images_answer, parse_form
from .openai_models import model_refusal
from .openai_requests import RESPONSES_PATH, RecordedRequest, _image_tool, _remote_image_url
from .openai_spec import SpecError, check_request

if TYPE_CHECKING:
    from .openai_server import FakeOpenAIServer

__all__: list[str] = []


class _OpenAIHandler(LoopbackHandler):
    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        fake = cast("FakeOpenAIServer", self.owner)
        arrived = time.monotonic()
        request_id = _hex_id("req")
        raw = self.read_body()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        path = self.path.split("?", 1)[0]
        if self.command == "POST" and path == IMAGES_EDITS_PATH:
            self._images_edits(fake, raw, request_id)
            return
        content_type = self.headers.get("content-type", "")
        files, batches = fake._file_store, fake._batch_store
        route = route_stored(files, batches, self.command, self.path, content_type, raw, body)
        if route is not None:
            self._stored_api(fake, path, route, request_id)
            return
        served = self.command == "POST" and path == RESPONSES_PATH
        spec_error = check_request(body) if served and isinstance(body, dict) else None
        fake._record(
            RecordedRequest(
                self.command,
                path,
                {k.lower(): v for k, v in self.headers.items()},
                body,
                spec_error=spec_error,
            )
        )

        if not served:
            self._error(
                404,
                request_id,
                f"Invalid URL ({self.command} {path})",
                "invalid_request_error",
            )
            return
        fake._enter()
        try:
            self._responses(fake, body, request_id, arrived, spec_error)
        finally:
            fake._leave(time.monotonic() - arrived)

    def _stored_api(self, fake: FakeOpenAIServer, path: str, route: Route, request_id: str) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        fake._record(
            RecordedRequest(
                self.command, path, headers, route.recorded, spec_error=route.spec_error
            )
        )
        if not self._authorised(fake, request_id):
            return
        reply = route.run()
        for error in reply.refused:
            fake._refused(error)
        fake._notify()
        self._send(reply.status, request_id, reply.body, content_type=reply.content_type)

    def _images_edits(self, fake: FakeOpenAIServer, raw: bytes, request_id: str) -> None:
        form = parse_form(self.headers.get("content-type", ""), raw)
        spec_error = check_form(form) if form is not None else None
        recorded = (
            None
            if form is None
            else {
                **form.fields,
                "_images": [(name, mime, len(data)) for name, mime, data in form.images],
                "_mask": [
                    (name, mime, len(data)) for name, mime, data in form.files.get("mask", [])
                ],
            }
        )
        fake._record(
            RecordedRequest(
                self.command,
                IMAGES_EDITS_PATH,
                {k.lower(): v for k, v in self.headers.items()},
                recorded,
                spec_error=spec_error,
            )
        )
        if not self._authorised(fake, request_id):
            return
        if form is None:
            self._error(400, request_id, "Expected a multipart form", "invalid_request_error")
            return
        if spec_error is not None:
            fake._refused(spec_error)
            self._send(400, request_id, _dumps({"error": spec_error.error()}))
            return
        refusal = model_refusal(form.fields, "")
        if refusal is not None and fake.model_rules:
            self._send(400, request_id, _dumps({"error": refusal}))
            return
        fault = fake._next_fault()
        if fault is not None and fault.kind == "error":
            self._send(fault.status, request_id, _dumps({"error": dict(fault.error or {})}))
            return
        self._json(200, request_id, images_answer(form))

    def _responses(
        self,
        fake: FakeOpenAIServer,
        body: Any,
        request_id: str,
        arrived: float,
        spec_error: SpecError | None,
    ) -> None:
        if not self._authorised(fake, request_id):
            return
        if not isinstance(body, dict):
            message = (
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
                "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
                "sent was not valid JSON.)"
            )
            self._error(400, request_id, message, "invalid_request_error")
            return
        if spec_error is not None:
            fake._refused(spec_error)
            self._send(400, request_id, _dumps({"error": spec_error.error()}))
            return
        if not body.get("model"):
            self._error(
                400,
                request_id,
                "Missing required parameter: 'model'.",
                "invalid_request_error",
                code="missing_required_parameter",
                param="model",
            )
            return
        choice = body.get("tool_choice")
        if (
            isinstance(choice, dict)
            and choice.get("type") == "image_generation"
            and _image_tool(body) is None
        ):
            self._error(
                400,
                request_id,
                "Tool choice 'image_generation' not found in 'tools' parameter.",
                "invalid_request_error",
                param="tool_choice",
            )
            return

        refusal = model_refusal(_image_tool(body) or {}, "tools[0].")
        if refusal is not None and fake.model_rules:
            self._send(400, request_id, _dumps({"error": refusal}))
            return

        refill = fake._take_rate_token()
        if refill is not None:
            limited = Fault.rate_limit(retry_after=refill)
            error = dict(limited.error or {})
            error["message"] = str(error["message"]).replace(_MODEL, str(body["model"]))
            self._send(429, request_id, _dumps({"error": error}), dict(limited.headers))
            return

        # Like the real API, ``latency`` includes the server's own work: the answer is
        # prepared first and the request is held until ``latency`` after it arrived, so
        # this fake's decoding and re-encoding (on its process's one GIL) never adds to it.
        prepared = _success(body)
        if fake.wait(max(0.0, fake.latency - (time.monotonic() - arrived))):
            self.abort_connection()
            return
        fault = fake._next_fault()
        model = str(body["model"])
        remote_url = _remote_image_url(body)
        if fault is not None and fault.kind == "image_url_unreachable" and remote_url is None:
            fault = None  # nothing for OpenAI to download: a normal answer
        if fault is None:
            self._json(200, request_id, prepared)
        elif fault.kind in ("error", "image_url_unreachable"):
            error = dict(fault.error or {})
            message = str(error.get("message") or "")
            message = message.replace(_REQUEST_ID, request_id).replace(_MODEL, model)
            error["message"] = message.replace(_IMAGE_URL, remote_url or "")
            self._send(fault.status, request_id, _dumps({"error": error}), dict(fault.headers))
        elif fault.kind == "delay":
            if fake.wait(fault.delay):
                self.abort_connection()
                return
            self._json(200, request_id, prepared)
        elif fault.kind == "held" and fault.gate is not None:
            while not fault.gate.wait(0.05):
                if fake.stopping:
                    self.abort_connection()
                    return
            self._json(200, request_id, prepared)
        elif fault.kind == "reset":
            self.abort_connection()
        elif fault.kind == "raw":
            self._send(200, request_id, fault.body, content_type=fault.content_type)
        elif fault.kind == "no_image":
            self._json(200, request_id, _response_object(body, [_message_item(fault.text)]))
        elif fault.kind == "failed_call":
            self._json(200, request_id, _response_object(body, [_failed_call_item(body)]))

    def _authorised(self, fake: FakeOpenAIServer, request_id: str) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            message = (
                "You didn't provide an API key. You need to provide your API key in an Authorization "
                "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
            self._error(401, request_id, message, "invalid_request_error")
            return False
        if fake.api_key is not None and key.strip() != fake.api_key:
            self._error(
                401,
                request_id,
                _incorrect_key_message(key.strip()),
                "invalid_request_error",
                code="invalid_api_key",
            )
            return False
        return True

    def _error(
        self,
        status: int,
        request_id: str,
        message: str,
        type_: str,
        *,
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        error = {"message": message, "type": type_, "param": param, "code": code}
        self._send(status, request_id, _dumps({"error": error}))

    def _json(self, status: int, request_id: str, payload: Mapping[str, Any]) -> None:
        self._send(status, request_id, _dumps(payload))

    def _send(
        self,
        status: int,
        request_id: str,
        body: bytes,
        extra: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        headers = {
            "x-request-id": request_id,
            "openai-version": "2020-10-01",
            "openai-processing-ms": "1",
            "openai-organization": "org-fake",
        }
        headers.update(extra or {})
        self.send_bytes(status, body, content_type, headers)
