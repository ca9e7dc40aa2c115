"""Request bodies checked against the openai SDK's own request types, as the real API would.

``check_request(body)`` walks a ``POST /v1/responses`` JSON body against
``ResponseCreateParamsNonStreaming`` and every TypedDict it references, reading their
type hints (``typing.get_type_hints(..., include_extras=True)``). It returns the first
problem as a ``SpecError`` (or None): a key a TypedDict does not declare
(``unknown_parameter``), a required key missing (``missing_required_parameter``), a
value outside a Literal (``invalid_value``) or of the wrong JSON type (``invalid_type``),
each with the path OpenAI names in ``param`` (``input[0].content[1].detail``).

pydantic's ``TypeAdapter`` is no substitute: it drops unknown keys at every level and
validates ``Iterable`` fields lazily. ``__required_keys__`` is no help either: the SDK's
modules use ``from __future__ import annotations``, so typing_extensions sees only strings
and counts every key optional; requiredness is read from the resolved hints instead.

A union picks its branch the way the API's discriminated schemas do: an object with a
``type`` is checked against the members whose ``type`` accepts it, so the error is that
member's; otherwise every member is tried and the deepest failure is reported.
"""

from __future__ import annotations

import collections.abc
import functools
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

import typing_extensions
from openai.types.responses.response_create_params import ResponseCreateParamsNonStreaming

__all__ = ["SpecError", "check_request"]

ErrorCode = Literal[
    "unknown_parameter", "missing_required_parameter", "invalid_value", "invalid_type"
]
_Path = tuple[str | int, ...]

_WRAPPERS = {typing.Required, typing.NotRequired, typing_extensions.ReadOnly}
_WRAPPERS |= {typing_extensions.Required, typing_extensions.NotRequired}
_UNIONS = {typing.Union, types.UnionType}
_ARRAYS = {list, collections.abc.Iterable, collections.abc.Sequence, collections.abc.Collection}
_MAPPINGS = {dict, collections.abc.Mapping, collections.abc.MutableMapping}
_SCALARS: dict[Any, str] = {str: "a string", int: "an integer", float: "a number"}
_SCALARS[bool] = "a boolean"


@dataclass(frozen=True)
class SpecError:
    """Why a body does not fit the SDK's request types, as the API's 400 reports it."""

    param: str
    problem: str
    code: ErrorCode

    @property
    def message(self) -> str:
        return f"{self.param}: {self.problem}"

    def error(self) -> dict[str, str]:
        """The ``error`` object of the 400 answer."""
        return {
            "message": self.message,
            "type": "invalid_request_error",
            "param": self.param,
            "code": self.code,
        }


class _RefusalError(Exception):
    def __init__(self, path: _Path, problem: str, code: ErrorCode) -> None:
        super().__init__(problem)
        self.path, self.problem, self.code = path, problem, code


def check_request(body: Any, spec: Any = ResponseCreateParamsNonStreaming) -> SpecError | None:
    """The first way ``body`` breaks ``spec`` (default: a non-streaming create), or None."""
    try:
        _check(body, spec, ())
    except _RefusalError as refused:
        return SpecError(_format(refused.path), refused.problem, refused.code)
    return None


def _format(path: _Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(body)"


def _unwrap(hint: Any) -> Any:
    """Strip Required/NotRequired/ReadOnly/Annotated and type aliases down to the type."""
    while True:
        origin = get_origin(hint)
        if origin in _WRAPPERS:
            hint = get_args(hint)[0]
        elif origin is typing.Annotated:
            hint = hint.__origin__
        elif isinstance(hint, typing_extensions.TypeAliasType):
            hint = hint.__value__
        else:
            return hint


def _check(value: Any, hint: Any, path: _Path) -> None:
    hint = _unwrap(hint)
    origin = get_origin(hint)
    if hint is Any or hint is object:
        return
    if hint is None or hint is type(None):
        if value is not None:
            raise _RefusalError(path, f"expected null, got {_json_type(value)}", "invalid_type")
    elif origin is Literal:
        allowed = get_args(hint)
        if not any(type(value) is type(a) and value == a for a in allowed):
            raise _RefusalError(path, _bad_value(value, [hint]), _value_code(value, [hint]))
    elif origin in _UNIONS:
        _check_union(value, hint, path)
    elif typing_extensions.is_typeddict(hint):
        _check_object(value, hint, path)
    elif origin in _ARRAYS:
        if not isinstance(value, list):
            raise _RefusalError(path, f"expected an array, got {_json_type(value)}", "invalid_type")
        (item,) = get_args(hint) or (Any,)
        for index, element in enumerate(value):
            _check(element, item, (*path, index))
    elif origin in _MAPPINGS or hint is dict:
        if not isinstance(value, dict):
            raise _RefusalError(
                path, f"expected an object, got {_json_type(value)}", "invalid_type"
            )
        _, item = get_args(hint) or (str, Any)
        for key, element in value.items():
            _check(element, item, (*path, key))
    elif hint in _SCALARS:
        if not _is_scalar(value, hint):
            raise _RefusalError(
                path, f"expected {_SCALARS[hint]}, got {_json_type(value)}", "invalid_type"
            )
    else:
        # A construct this walker does not know would otherwise pass silently.
        raise TypeError(f"openai_spec cannot check {hint!r} (at {_format(path)})")


def _is_scalar(value: Any, hint: Any) -> bool:
    if hint is float:
        return type(value) in (int, float)
    return type(value) is hint  # bool is not an int here, nor an int a bool


def _check_object(value: Any, hint: Any, path: _Path) -> None:
    if not isinstance(value, dict):
        raise _RefusalError(path, f"expected an object, got {_json_type(value)}", "invalid_type")
    hints, required = _fields(hint)
    for key, element in value.items():
        if key not in hints:
            raise _RefusalError((*path, key), "unknown parameter", "unknown_parameter")
        _check(element, hints[key], (*path, key))
    missing = sorted(required - value.keys())
    if missing:
        raise _RefusalError(
            (*path, missing[0]), "missing required parameter", "missing_required_parameter"
        )


@functools.cache
def _fields(typed_dict: Any) -> tuple[dict[str, Any], frozenset[str]]:
    """A TypedDict's resolved hints and its required keys (per-class totality, then
    Required/NotRequired), read from the hints rather than the string annotations."""
    hints = typing.get_type_hints(typed_dict, include_extras=True)
    required: set[str] = set()

    def declared(cls: Any) -> None:
        bases = [b for b in getattr(cls, "__orig_bases__", ()) if typing_extensions.is_typeddict(b)]
        inherited: set[str] = set()
        for base in bases:
            declared(base)
            inherited |= set(base.__annotations__)
        if getattr(cls, "__total__", True):
            required.update(set(cls.__annotations__) - inherited)

    declared(typed_dict)
    for key, key_hint in hints.items():
        qualifier = get_origin(key_hint)  # Required/NotRequired are outermost
        if qualifier in (typing.Required, typing_extensions.Required):
            required.add(key)
        elif qualifier in (typing.NotRequired, typing_extensions.NotRequired):
            required.discard(key)
    return hints, frozenset(required)


def _is_union(hint: Any) -> bool:
    return get_origin(hint) in _UNIONS


def _members(hint: Any) -> list[Any]:
    """A union's members, nested unions and aliases flattened."""
    members: list[Any] = []
    for member in map(_unwrap, get_args(hint)):
        members.extend(_members(member) if _is_union(member) else [member])
    return members


def _check_union(value: Any, hint: Any, path: _Path) -> None:
    members = _members(hint)
    objects = [m for m in members if typing_extensions.is_typeddict(m)]
    if isinstance(value, dict) and objects:
        tag = value.get("type")
        if isinstance(tag, str) and any("type" in _fields(m)[0] for m in objects):
            tagged = [m for m in objects if "type" in _fields(m)[0]]
            members = [m for m in tagged if _accepts(tag, _fields(m)[0]["type"])]
            if not members:
                tags = [_unwrap(_fields(m)[0]["type"]) for m in tagged]
                raise _RefusalError((*path, "type"), _bad_value(tag, tags), _value_code(tag, tags))
        elif "type" not in value:
            members = [m for m in objects if "type" not in _fields(m)[1]] + [
                m for m in members if not typing_extensions.is_typeddict(m)
            ]
            if not members:
                raise _RefusalError(
                    (*path, "type"), "missing required parameter", "missing_required_parameter"
                )
    failures: list[_RefusalError] = []
    for member in members:
        try:
            _check(value, member, path)
        except _RefusalError as refused:
            failures.append(refused)
        else:
            return
    deepest = max(failures, key=lambda f: len(f.path))
    if len(deepest.path) > len(path):
        raise deepest
    # Every member refused the value itself: say what would have done.
    raise _RefusalError(path, _bad_value(value, members), _value_code(value, members))


def _accepts(value: Any, hint: Any) -> bool:
    try:
        _check(value, hint, ())
    except _RefusalError:
        return False
    return True


def _value_code(value: Any, hints: list[Any]) -> ErrorCode:
    """invalid_value when a Literal of the value's own JSON type exists, else invalid_type."""
    literals = [a for h in hints if get_origin(h) is Literal for a in get_args(h)]
    return "invalid_value" if any(type(a) is type(value) for a in literals) else "invalid_type"


def _bad_value(value: Any, hints: list[Any]) -> str:
    """ "invalid value 'x'; expected one of ..." or "expected ..., got an array"."""
    values: list[Any] = []
    kinds: list[str] = []
    objects: list[str] = []
    flat = (m for h in map(_unwrap, hints) for m in (_members(h) if _is_union(h) else [h]))
    for hint in flat:
        if get_origin(hint) is Literal:
            values += [a for a in get_args(hint) if a not in values]
        elif typing_extensions.is_typeddict(hint):
            objects.append(hint.__name__)
        elif _describe(hint) not in kinds:
            kinds.append(_describe(hint))
    if "a string" in kinds:
        values = []  # any string would do, the listed ones are only suggestions
    parts = []
    if values:
        shown = ", ".join(_short(v) for v in values[:12])
        parts.append(f"one of {shown}{', ...' if len(values) > 12 else ''}")
    parts += kinds
    if objects:
        parts.append(f"an object ({objects[0]})" if len(objects) == 1 else "an object")
    expected = " or ".join(parts)
    if _value_code(value, hints) == "invalid_value":
        return f"invalid value {_short(value)}; expected {expected}"
    return f"expected {expected}, got {_json_type(value)}"


def _describe(hint: Any) -> str:
    origin = get_origin(hint)
    if origin in _ARRAYS:
        return "an array"
    if origin in _MAPPINGS or hint is dict:
        return "an object"
    if hint is None or hint is type(None):
        return "null"
    return _SCALARS.get(hint, repr(hint))


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, str | int | float | bool) else _json_type(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    names |= {int: "an integer", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)
