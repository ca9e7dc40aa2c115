"""How an option is defined once: a dataclass field carrying an ``OptionSpec``.

An option group is a frozen dataclass whose fields are declared with ``option(...)``. From
that one definition come the flows' flat parameters and their UI descriptions
(options.parameters), the ``process-image`` flags (cli.flags), the request sent to OpenAI
(``tool_field`` / ``edit_field``), the cache fingerprint (every GenerationOptions field,
options.generation) and the docs' option table (scripts/generate_docs.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, get_type_hints

GroupT = TypeVar("GroupT")
_SPEC = "option"


class _Same:
    """The parameter's default is the field's own."""

    def __repr__(self) -> str:
        return "SAME"


SAME: Any = _Same()


@dataclass(frozen=True)
class OptionSpec:
    """What one option is besides its name, type and default."""

    description: str  # the UI form's text, the flag's help, the docs' table
    annotation: Any = None  # the flow parameter's type (bounds, choices); None: the field's
    flags: tuple[str, ...] | None = ()  # (): --the-name; None: no process-image flag
    metavar: str | None = None
    parameter_default: Any = SAME  # when the flow's default differs from the field's
    tool_field: str | None = None  # its name in the image_generation tool, sent when set
    edit_field: str | None = None  # its name in images.edit, sent when set
    separator: str | None = None  # a list flag takes its items in one word: --widths 320,640
    per_image: bool = False  # a jobs row (options.jobs) may set it for its own image


def option(
    default: Any,
    description: str,
    *,
    annotation: Any = None,
    flags: tuple[str, ...] | None = (),
    metavar: str | None = None,
    parameter_default: Any = SAME,
    tool_field: str | None = None,
    edit_field: str | None = None,
    separator: str | None = None,
    per_image: bool = False,
) -> Any:
    """A dataclass field that is also an option's one definition (see OptionSpec)."""
    spec = OptionSpec(
        description=description,
        annotation=annotation,
        flags=flags,
        metavar=metavar,
        parameter_default=parameter_default,
        tool_field=tool_field,
        edit_field=edit_field,
        separator=separator,
        per_image=per_image,
    )
    return dataclasses.field(default=default, metadata={_SPEC: spec})


@dataclass(frozen=True)
class Option:
    """One option as the generators read it: name, parameter type and default, spec."""

    name: str
    annotation: Any
    default: Any
    spec: OptionSpec

    @property
    def flags(self) -> tuple[str, ...]:
        """Its process-image spelling; empty when the CLI has no flag for it."""
        if self.spec.flags is None:
            return ()
        return self.spec.flags or ("--" + self.name.replace("_", "-"),)


def options_of(group: type) -> Iterator[Option]:
    """The options of one group, in declaration order."""
    hints = get_type_hints(group, include_extras=True)
    for field in dataclasses.fields(group):
        spec: OptionSpec = field.metadata[_SPEC]
        default = field.default if spec.parameter_default is SAME else spec.parameter_default
        yield Option(field.name, spec.annotation or hints[field.name], default, spec)


def from_parameters(group: type[GroupT], parameters: Mapping[str, Any]) -> GroupT:
    """The group's options among ``parameters`` (named as the flows name them); the
    options missing there, or None where the field's default is not, take the default."""
    values = {}
    for field in dataclasses.fields(group):  # type: ignore[arg-type]
        value = parameters.get(field.name)
        if field.name in parameters and (value is not None or field.default is None):
            values[field.name] = value
    return group(**values)


def to_parameters(group: object) -> dict[str, Any]:
    """The group as flat flow parameters (for child runs and the batch ledger)."""
    return {f.name: getattr(group, f.name) for f in dataclasses.fields(group)}  # type: ignore[arg-type]
