"""What each OpenAI image model accepts, in one table, checked before any paid call.

Each row says where its facts come from: the installed openai SDK's docstrings of
``ImageGeneration`` (openai/types/responses/tool_param.py) and ``ImageEditParams``, or
what users reported when the API answered otherwise. ``tests/test_capabilities.py``
fails when the SDK lists a model this table has no row for, or names another default.

An option the user set that the model cannot take is refused with the model, the option
and the fix. Transparency is never refused: a model that cannot make it gets an opaque
image on a key colour that is cut out locally (prefect_image_pipeline.steps.transparency).
"""

from __future__ import annotations

import ast
import functools
import inspect
import re
from dataclasses import dataclass
from typing import Literal

from openai.types.responses import tool_param

from prefect_image_pipeline.errors import InvalidOptionsError

# yes: send transparent. preview: send it, cut out locally if OpenAI refuses (a 400 is
# not billed). no: ask for a key colour and cut out locally without trying.
Transparency = Literal["yes", "preview", "no"]
STANDARD_SIZES = ("1024x1024", "1536x1024", "1024x1536", "auto")
_GPT_IMAGE_QUALITIES = ("low", "medium", "high", "auto")
_SDK = "openai 3.57 ImageGeneration docstrings"
_FALLBACK_IMAGE_MODEL = "gpt-image-2.6-sunburst"  # if the SDK's source cannot be read
_DEFAULT = re.compile(r"Default:\s*`([^`]+)`")


@dataclass(frozen=True)
class ModelCapabilities:
    """One image model: what it takes, and where we learned it."""

    model: str
    transparency: Transparency
    # None: OpenAI says to omit input_fidelity for this model.
    input_fidelity: tuple[str, ...] | None
    qualities: tuple[str, ...]
    custom_sizes: bool  # WIDTHxHEIGHT beyond the standard sizes
    source: str
    as_of: str
    # False: the SDK says nothing of input_fidelity for this model; sent, with a note.
    fidelity_documented: bool = True
    # Every GPT image model writes these (gif and svg "require a model that supports the
    # selected format": none is documented as one, and we publish still rasters anyway).
    output_formats: tuple[str, ...] = ("png", "webp", "jpeg")
    endpoints: tuple[str, ...] = ("responses", "images")  # the image tool, images.edit


def _row(
    model: str,
    transparency: Transparency,
    source: str,
    *,
    fidelity: tuple[str, ...] | None = None,
    qualities: tuple[str, ...] = _GPT_IMAGE_QUALITIES,
    custom_sizes: bool = False,
    as_of: str = "2026-12-06",
    undocumented_fidelity: bool = False,
) -> ModelCapabilities:
    if undocumented_fidelity:  # not refused: OpenAI has not said it is refused
        fidelity = ("high", "low")
    return ModelCapabilities(
        model,
        transparency,
        fidelity,
        qualities,
        custom_sizes,
        source,
        as_of,
        fidelity_documented=not undocumented_fidelity,
    )


_XHIGH = (*_GPT_IMAGE_QUALITIES[:3], "xhigh", "max", "auto")
_REFUSED_2X = (
    "users report 400 'Transparent background is not supported for this model.' "
    "(Wei-Shaw/sub2api#7150, gaoren002/GPT2Image-Pro#2, Sept 2026)"
)
_ROWS = (
    _row(
        "gpt-image-1-mini",
        "yes",
        f"{_SDK}: input_fidelity 'only low'; transparent on supported GPT Image models",
        fidelity=("low",),
    ),
    _row(
        "gpt-image-1.5",
        "yes",
        f"{_SDK}: input_fidelity high and low; transparent on supported GPT Image models",
        fidelity=("high", "low"),
    ),
    *(
        _row(
            name,
            "preview",
            f"{_SDK}: transparency 'in preview', 'omit' input_fidelity, WIDTHxHEIGHT sizes",
            custom_sizes=True,
        )
        for name in ("gpt-image-2", "gpt-image-2-2026-04-21")
    ),
    *(
        _row(
            name,
            "no",
            f"{_SDK}: xhigh and max, WIDTHxHEIGHT sizes; the docstring lists transparency but "
            + _REFUSED_2X,
            qualities=_XHIGH,
            custom_sizes=True,
            undocumented_fidelity=True,
        )
        for name in (
            "gpt-image-2.5-sunburst",
            "gpt-image-2.5-sunburst-2026-09-08",
            "gpt-image-2.5-flare",
            "gpt-image-2.5-flare-2026-09-08",
        )
    ),
    *(
        _row(
            name,
            "no",
            f"{_SDK}: not among the models given xhigh/max, WIDTHxHEIGHT or transparency; "
            "refused like the 2.5 models (openai/codex#43757)",
            undocumented_fidelity=True,
        )
        for name in ("gpt-image-2.6-sunburst", "gpt-image-2.6-flare")
    ),
    _row(
        "chatgpt-image-latest",
        "preview",
        f"{_SDK}: listed without per-model notes, so only the GPT image models' common "
        "options are allowed; transparency tried, cut out locally if refused",
        undocumented_fidelity=True,
    ),
)
CAPABILITIES: dict[str, ModelCapabilities] = {row.model: row for row in _ROWS}


# Process-wide on purpose: the installed SDK cannot change under a running process, and
# parsing its source costs milliseconds, paid on first use rather than at import.
@functools.cache
def default_image_model() -> str:
    """The image tool's default model as the installed SDK's docstring states it."""
    # Field docstrings are not kept at runtime, so read them from the module's source.
    try:
        tree = ast.parse(inspect.getsource(tool_param))
    except (OSError, TypeError, SyntaxError):
        return _FALLBACK_IMAGE_MODEL
    tool = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "ImageGeneration"]
    found = _DEFAULT.search(_field_doc(tool[0], "model") if tool else "")
    return found.group(1) if found else _FALLBACK_IMAGE_MODEL


def _field_doc(cls: ast.ClassDef, name: str) -> str:
    """The string written under field ``name`` of ``cls``, or "" if there is none."""
    for field, doc in zip(cls.body, cls.body[1:], strict=False):
        if isinstance(field, ast.AnnAssign) and ast.unparse(field.target) == name:
            value = doc.value if isinstance(doc, ast.Expr) else None
            return (
                value.value
                if isinstance(value, ast.Constant) and isinstance(value.value, str)
                else ""
            )
    return ""


def capabilities_of(model: str) -> ModelCapabilities | None:
    """The row for ``model``, or None for a model the table does not know."""
    return CAPABILITIES.get(model)


def check_for_model(
    model: str,
    quality: str,
    input_fidelity: str | None,
    size: str | None,
    output_format: str = "png",
    api: str = "responses",
) -> list[str]:
    """Refuse what image ``model`` cannot take (InvalidOptionsError); notes to show."""
    row = capabilities_of(model)
    if row is None:
        return [
            f"image model {model!r} is not in our capability table: its options are sent "
            "unchecked (OpenAI will refuse what it cannot take)"
        ]
    if quality not in row.qualities:
        raise InvalidOptionsError(
            f"Image model {model} does not take quality {quality!r} (it takes "
            f"{', '.join(row.qualities)}); use --quality high, or an image model that takes "
            f"it ({', '.join(_models_with_quality(quality)) or 'none known'})"
        )
    _check_fidelity(model, row, input_fidelity)
    for option, value, allowed in (
        ("output format", output_format, row.output_formats),
        ("api", api, row.endpoints),
    ):
        if value not in allowed:
            raise InvalidOptionsError(
                f"Image model {model} takes {option} {', '.join(allowed)}, not {value!r}"
            )
    notes = []
    if input_fidelity is not None and not row.fidelity_documented:
        notes.append(
            f"OpenAI documents input_fidelity for gpt-image-1.5 and gpt-image-1-mini only (and "
            f"says to omit it for gpt-image-2); sent to {model} as asked"
        )
    if size is not None and size not in STANDARD_SIZES and not row.custom_sizes:
        raise InvalidOptionsError(
            f"Image model {model} takes only the sizes {', '.join(STANDARD_SIZES)}, not "
            f"{size}; use one of them, or an image model that takes WIDTHxHEIGHT "
            f"({', '.join(m for m, r in CAPABILITIES.items() if r.custom_sizes)})"
        )
    return notes


def _check_fidelity(model: str, row: ModelCapabilities, fidelity: str | None) -> None:
    if fidelity is None:
        return
    if row.input_fidelity is None:
        raise InvalidOptionsError(
            f"Image model {model} takes no input_fidelity (OpenAI: omit this parameter); "
            "drop --input-fidelity, or use --image-model gpt-image-1.5"
        )
    if fidelity not in row.input_fidelity:
        raise InvalidOptionsError(
            f"Image model {model} takes input_fidelity {' or '.join(row.input_fidelity)} "
            f"only, not {fidelity!r}; use --input-fidelity {row.input_fidelity[0]}, or "
            "--image-model gpt-image-1.5"
        )


def _models_with_quality(quality: str) -> list[str]:
    return [m for m, r in CAPABILITIES.items() if quality in r.qualities]
