"""The one line a setting that does not fit fails with: its variable, what it takes, the fix."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import AliasChoices, ValidationError
from pydantic.fields import FieldInfo


def explain_invalid_setting(exc: ValidationError, fields: Mapping[str, FieldInfo]) -> str:
    """``VARIABLE must be <what it takes>, got <value>; fix or unset it (default <d>)``."""
    error = exc.errors()[0]
    variable = str(error["loc"][0]) if error["loc"] else "a setting"
    field = next(
        (
            (name, info)
            for name, info in fields.items()
            if variable in _aliases(info.validation_alias)
        ),
        None,
    )
    default = f" (default {field[1].default})" if field else ""
    return f"{variable} must be {_expected(field[1] if field else None, error['msg'])}, " + (
        f"got {error.get('input')!r}; fix or unset it{default}"
    )


def _expected(info: Any, message: str) -> str:
    kind = getattr(info, "annotation", None)
    low = next((m.ge for m in info.metadata if getattr(m, "ge", None) is not None), None)
    high = next((m.le for m in info.metadata if getattr(m, "le", None) is not None), None)
    if kind is int and high is not None:
        return f"a whole number from {low} to {high}"
    if kind is int:
        return "a whole number, 0 or more" if low == 0 else "a positive whole number"
    if kind is float:
        return "a positive number"
    return message.lower()


def _aliases(alias: object) -> list[str]:
    if isinstance(alias, str):
        return [alias]
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    return []
