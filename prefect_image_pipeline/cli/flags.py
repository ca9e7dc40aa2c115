"""``process-image``'s option flags, made from the option definitions (options.fields).

Each flag's destination is the option's name, so the CLI hands the flows exactly the
parameters the UI form and ``prefect deployment run -p`` would; its choices, bounds,
default and help come from the same definition as the flow parameter's.
"""

from __future__ import annotations

import argparse
import re
import types
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import TypeAdapter, ValidationError, WithJsonSchema

from prefect_image_pipeline.options.fields import Option, options_of
from prefect_image_pipeline.options.run import option_groups


def add_option_flags(parser: argparse.ArgumentParser, groups: Iterable[type] | None = None) -> None:
    """One flag per option that has a CLI spelling, grouped as the definitions are."""
    for group in option_groups().values() if groups is None else groups:
        flags = [o for o in options_of(group) if o.flags]
        if not flags:
            continue
        section = parser.add_argument_group(group_title(group))
        for each in flags:
            _add(section, each)


def group_title(group: type) -> str:
    """The group's docstring's first line, less its package reference: "How fast ..." """
    first = (group.__doc__ or "").splitlines()[0].rstrip(".")
    return re.sub(r"\s*\([\w.]+\)$", "", first)


def option_values(args: argparse.Namespace, accepted: Iterable[str]) -> dict[str, Any]:
    """The parsed option flags a flow with parameters ``accepted`` takes, by name."""
    names = set(accepted)
    return {
        o.name: getattr(args, o.name)
        for group in option_groups().values()
        for o in options_of(group)
        if o.flags and o.name in names
    }


def _add(section: argparse._ArgumentGroup, option: Option) -> None:
    help_text = option.spec.description.rstrip(".")
    if option.default not in (None, False):
        help_text += " (default: %(default)s)"
    base = _without_none(option.annotation)
    if base is bool:
        section.add_argument(*option.flags, dest=option.name, action="store_true", help=help_text)
        return
    if get_origin(base) is list and option.spec.separator:
        section.add_argument(
            *option.flags,
            dest=option.name,
            action="extend",
            type=_items_of(option),
            metavar=option.spec.metavar,
            help=help_text,
        )
        return
    if get_origin(base) is list:
        section.add_argument(
            *option.flags,
            dest=option.name,
            action="append",
            metavar=option.spec.metavar,
            help=help_text + "; repeat for more",
        )
        return
    section.add_argument(
        *option.flags,
        dest=option.name,
        default=option.default,
        choices=flag_choices(option.annotation),
        type=_parser_of(option),
        metavar=option.spec.metavar,
        help=help_text,
    )


def _without_none(annotation: Any) -> Any:
    """``X`` of ``X | None``; the base type of ``Annotated[X, ...]``."""
    if get_origin(annotation) in (Union, types.UnionType):
        (annotation,) = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) is Annotated:
        return _without_none(get_args(annotation)[0])
    return annotation


def flag_choices(annotation: Any) -> list[str] | None:
    """The values a UI dropdown offers (a Literal, the JSON schema's enum), if any."""
    literal = _without_none(annotation)
    if get_origin(literal) is Literal:
        return [str(value) for value in get_args(literal)]
    for schema in _json_schemas(annotation):
        enums = [schema.get("enum")] + [a.get("enum") for a in schema.get("anyOf", [])]
        found = next((e for e in enums if e), None)
        if found:
            return list(found)
    return None


def _json_schemas(annotation: Any) -> list[dict[str, Any]]:
    if get_origin(annotation) in (Union, types.UnionType):
        return [s for a in get_args(annotation) for s in _json_schemas(a)]
    if get_origin(annotation) is not Annotated:
        return []
    return [
        m.json_schema
        for m in get_args(annotation)[1:]
        if isinstance(m, WithJsonSchema) and m.json_schema
    ]


def _items_of(option: Option) -> Callable[[str], list[Any]]:
    """Reads ``320,640`` as the list parameter would, each item checked (bounds, choices)."""
    separator = option.spec.separator or ","
    adapter: TypeAdapter[Any] = TypeAdapter(_without_none(option.annotation))

    def parse(text: str) -> list[Any]:
        items = [item.strip() for item in text.split(separator) if item.strip()]
        try:
            return list(adapter.validate_python(items))
        except ValidationError as exc:
            error = exc.errors()[0]
            raise argparse.ArgumentTypeError(f"{text!r}: {error['msg'].lower()}") from None

    return parse


def _parser_of(option: Option) -> Callable[[str], Any]:
    """Reads a flag's text as the flow parameter would: a whole number within its bounds.
    (Choices argparse checks itself; other text is checked with the options.)"""
    if _without_none(option.annotation) is not int:
        return str
    adapter: TypeAdapter[Any] = TypeAdapter(option.annotation)

    def parse(text: str) -> Any:
        try:
            return adapter.validate_python(int(text))
        except ValueError as exc:  # pydantic's ValidationError is one too
            raise argparse.ArgumentTypeError(_reason(exc, text)) from None

    return parse


def _reason(exc: ValueError, text: str) -> str:
    if isinstance(exc, ValidationError):
        return f"{text!r}: {exc.errors()[0]['msg'].lower()}"
    return f"{text!r} is not a whole number"
