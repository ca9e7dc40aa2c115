"""The HTTP routes of the fake's Files and Batch APIs: parse, check, then act.

Each route returns a ``Route`` (``openai_files``): what history records, the spec error
that refuses the request, and ``run()``, which the handler calls only once the API key is
checked, so a refused or unauthorised request never changes a store. Bodies and queries
are checked against the SDK's own ``BatchCreateParams`` and ``BatchListParams``; uploads
against ``FileCreateParams`` (in ``openai_files``). The stores do the rest.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from openai.types.batch_create_params import BatchCreateParams
from openai.types.batch_list_params import BatchListParams

from .openai_batch import BATCHES_PATH, BatchStore
from .openai_files import FILES_PATH, FileStore, Route, error_reply, refused_reply, route_files
from .openai_spec import SpecError, check_request

__all__ = ["route_batches", "route_stored"]

_LIST_LIMITS = (1, 100)
_DEFAULT_LIMIT = 20


def route_stored(
    files: FileStore,
    batches: BatchStore,
    method: str,
    url: str,
    content_type: str,
    raw: bytes,
    body: Any,
) -> Route | None:
    """The Files or Batch API route for a request (``url`` with its query), or None."""
    path, _, query = url.partition("?")
    if path == FILES_PATH or path.startswith(FILES_PATH + "/"):
        return route_files(files, method, path, content_type, raw, body)
    if path == BATCHES_PATH or path.startswith(BATCHES_PATH + "/"):
        return route_batches(batches, method, path, query, body)
    return None


def route_batches(store: BatchStore, method: str, path: str, query: str, body: Any) -> Route | None:
    """The route for a ``/v1/batches`` request, or None when the path is not one."""
    parts = path.removeprefix(BATCHES_PATH).strip("/").split("/")
    if parts == [""] and method == "POST":
        return _create(store, body)
    if parts == [""] and method == "GET":
        return _list(store, query)
    if len(parts) == 1 and method == "GET":
        return Route(lambda: store.retrieve(parts[0]), body)
    if len(parts) == 2 and parts[1] == "cancel" and method == "POST":
        return Route(lambda: store.cancel(parts[0]), body)
    return None


def _create(store: BatchStore, body: Any) -> Route:
    if not isinstance(body, dict):
        message = "We could not parse the JSON body of your request."
        return Route(lambda: error_reply(400, message), body)
    error = check_request(body, BatchCreateParams)
    if error is not None:
        return Route(lambda: refused_reply(error), body, error)
    return Route(lambda: _created(store, body), body)


def _created(store: BatchStore, body: dict[str, Any]) -> Any:
    """Create the batch; with a create gate, hold the answer until the gate opens."""
    reply = store.create(body)
    gate = store.create_gate
    if gate is not None:
        gate.wait(120)
    return reply


def _list(store: BatchStore, query: str) -> Route:
    params: dict[str, Any] = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    if isinstance(params.get("limit"), str) and params["limit"].lstrip("-").isdigit():
        params["limit"] = int(params["limit"])
    error = check_request(params, BatchListParams)
    low, high = _LIST_LIMITS
    if error is None and not low <= params.get("limit", _DEFAULT_LIMIT) <= high:
        problem = f"invalid value {params['limit']}; expected between {low} and {high}"
        error = SpecError("limit", problem, "invalid_value")
    if error is not None:
        return Route(lambda: refused_reply(error), None, error)
    return Route(lambda: store.list_page(params.get("limit", _DEFAULT_LIMIT), params.get("after")))
