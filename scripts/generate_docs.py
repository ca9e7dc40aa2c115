"""Rewrite the generated sections of docs/ from the code.

    uv run python scripts/generate_docs.py           # rewrite what is stale
    uv run python scripts/generate_docs.py --check   # rewrite nothing; exit 1 naming stale files

A section is one function returning markdown, registered in SECTIONS under its name. It
lands in whichever docs/*.md file holds the pair of markers

    <!-- generated: NAME -->
    <!-- end generated -->

(the text between them is replaced; prose around them is kept). To add a section, add its
function to SECTIONS and put its markers in a doc. tests/test_docs.py fails while a doc is
not current.
"""

from __future__ import annotations

import argparse
import re
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt
from pydantic import AliasChoices, AliasPath, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from prefect_image_pipeline.cli.flags import flag_choices, group_title
from prefect_image_pipeline.options.fields import Option, options_of
from prefect_image_pipeline.options.run import option_groups
from prefect_image_pipeline.settings.config import Settings

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"

END_MARKER = "<!-- end generated -->"
_BLOCK = re.compile(r"<!-- generated: ([\w-]+) -->\n(.*?)" + re.escape(END_MARKER), re.DOTALL)

_MIB = 1024 * 1024


class GeneratedDocsError(Exception):
    """A marker names no section, or a section has no markers in any doc."""


# -- configuration --------------------------------------------------------------------------


def configuration_markdown() -> str:
    """Every field of Settings as a table row: variable(s), type, default, bounds, meaning."""
    rows = [
        "| Variable | Type | Default | Bounds | Meaning |",
        "|---|---|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        variables = " or ".join(f"`{v}`" for v in _variables(name, field))
        if isinstance(field.validation_alias, AliasChoices):
            variables += " (the first one set wins)"
        cells = [
            variables,
            _type(field),
            _default(field),
            _bounds(field),
            _cell(field.description or ""),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def _variables(name: str, field: FieldInfo) -> list[str]:
    alias = field.validation_alias
    if isinstance(alias, str):
        return [alias]
    if isinstance(alias, AliasChoices):
        return [_alias_name(choice) for choice in alias.choices]
    if isinstance(alias, AliasPath):
        return [_alias_name(alias)]
    return [name.upper()]  # pydantic-settings reads the field's own name, any case


def _alias_name(alias: str | AliasPath) -> str:
    if isinstance(alias, AliasPath):
        return ".".join(str(part) for part in alias.path)
    return alias


def _type(field: FieldInfo) -> str:
    kinds = [k for k in _union_members(field.annotation) if k is not type(None)]
    return " or ".join(_type_name(k) for k in kinds)


def _union_members(annotation: object) -> tuple[object, ...]:
    if get_origin(annotation) in (Union, types.UnionType):
        return get_args(annotation)
    return (annotation,)


def _type_name(kind: object) -> str:
    if kind is SecretStr:
        return "`str` (secret: masked in logs and reprs)"
    return f"`{getattr(kind, '__name__', str(kind))}`"


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        return "computed"
    value = field.default
    if value is PydanticUndefined:
        return "required"
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "`1` (on)" if value else "`0` (off)"
    if isinstance(value, float):
        return f"`{value:g}`"
    if isinstance(value, int) and value >= _MIB and value % _MIB == 0:
        return f"`{value}` ({value // _MIB} MiB)"
    if value == "":
        return "empty"
    return f"`{_cell(str(value))}`"


def _bounds(field: FieldInfo) -> str:
    bounds = []
    for meta in field.metadata:
        if isinstance(meta, Ge):
            bounds.append(f"≥ {meta.ge}")
        elif isinstance(meta, Gt):
            bounds.append(f"> {meta.gt}")
        elif isinstance(meta, Le):
            bounds.append(f"≤ {meta.le}")
        elif isinstance(meta, Lt):
            bounds.append(f"< {meta.lt}")
    return ", ".join(bounds) or "—"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


# -- options -------------------------------------------------------------------------------


def options_markdown() -> str:
    """Every option, by group: flow parameter, process-image flag, values, default, meaning."""
    parts = []
    for group in option_groups().values():
        parts += [
            f"**{group_title(group)}**",
            "",
            "| Parameter | Flag | Values | Default | Meaning |",
            "|---|---|---|---|---|",
        ]
        for each in options_of(group):
            flags = ", ".join(f"`{f}`" for f in each.flags) or "— (flows only)"
            choices = flag_choices(each.annotation)
            values = ", ".join(f"`{c}`" for c in choices) if choices else _option_type(each)
            default = "empty" if each.default is None else f"`{each.default}`"
            cells = [f"`{each.name}`", flags, values, default, _cell(each.spec.description)]
            parts.append("| " + " | ".join(cells) + " |")
        parts.append("")
    return "\n".join(parts)


def _option_type(each: Option) -> str:
    """`int` ≥ 1, ≤ 64 and the like: the parameter's type and bounds."""
    texts = []
    for member_type in _union_members(each.annotation):
        base: object = member_type
        infos: tuple[object, ...] = ()
        if get_origin(member_type) is Annotated:
            base, *metadata = get_args(member_type)
            infos = tuple(metadata)
        for member in _union_members(base):
            if member is type(None):
                continue
            bounds = [_bounds(i) for i in infos if isinstance(i, FieldInfo)]
            texts.append(" ".join([_type_name(member), *(b for b in bounds if b != "—")]))
    return " or ".join(texts)


# -- the sections and where they go ---------------------------------------------------------

SECTIONS: dict[str, Callable[[], str]] = {
    "configuration": configuration_markdown,
    "options": options_markdown,
}


def render(text: str, contents: Mapping[str, str]) -> str:
    """TEXT with the body of every marked section replaced by CONTENTS[name]."""

    def body(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in contents:
            raise GeneratedDocsError(
                f"<!-- generated: {name} --> names no section of scripts/generate_docs.py "
                f"(known: {', '.join(sorted(contents))})"
            )
        return f"<!-- generated: {name} -->\n\n{contents[name].strip()}\n\n{END_MARKER}"

    return _BLOCK.sub(body, text)


def expected_docs(
    docs: Path = DOCS, sections: Mapping[str, Callable[[], str]] = SECTIONS
) -> dict[Path, str]:
    """Each doc holding a generated section, with the text it should have now."""
    contents = {name: make() for name, make in sections.items()}
    expected: dict[Path, str] = {}
    placed: set[str] = set()
    for path in sorted(docs.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        names = _BLOCK.findall(text)
        if not names:
            continue
        placed.update(name for name, _ in names)
        expected[path] = render(text, contents)
    missing = sorted(set(sections) - placed)
    if missing:
        raise GeneratedDocsError(
            f"no doc holds the markers of {', '.join(missing)}: add "
            f"'<!-- generated: {missing[0]} -->' and '{END_MARKER}' to one of {docs}/*.md"
        )
    return expected


def stale_docs(expected: Mapping[Path, str]) -> list[Path]:
    """The docs whose text differs from what they should have."""
    return [path for path, text in expected.items() if path.read_text(encoding="utf-8") != text]


def main(argv: Sequence[str] | None = None, docs: Path = DOCS) -> int:
    """Rewrite the stale docs under DOCS (or, with --check, name them); the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check", action="store_true", help="rewrite nothing; exit 1 if a doc is not current"
    )
    args = parser.parse_args(argv)
    try:
        expected = expected_docs(docs)
    except GeneratedDocsError as exc:
        print(f"generate_docs: {exc}", file=sys.stderr)
        return 2
    stale = stale_docs(expected)
    for path in stale:
        shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
        if args.check:
            print(
                f"{shown} is not current: run `uv run python scripts/generate_docs.py`",
                file=sys.stderr,
            )
        else:
            path.write_text(expected[path], encoding="utf-8")
            print(f"rewrote {shown}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
