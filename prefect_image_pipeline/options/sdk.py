"""What OpenAI's image tool accepts, read from the installed openai SDK's own request types.

Every option's allowed values come from ``openai.types.responses.tool_param.ImageGeneration``
and ``ResponseInputImageParam``, never from a list of ours: a newer SDK's values arrive by
themselves, and ``tests/test_tool_options.py`` fails until someone has looked at them.
The few values the SDK lists that this pipeline cannot handle are refused here, each
with its reason.
"""

from __future__ import annotations

import re
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

from openai.types.responses.response_input_image_param import ResponseInputImageParam
from openai.types.responses.tool_param import ImageGeneration
from pydantic import AfterValidator, WithJsonSchema

# Option name (as in our CLI and flows) -> (SDK type, its field).
_SDK_FIELDS: dict[str, tuple[type, str]] = {
    "quality": (ImageGeneration, "quality"),
    "background": (ImageGeneration, "background"),
    "output_format": (ImageGeneration, "output_format"),
    "moderation": (ImageGeneration, "moderation"),
    "input_fidelity": (ImageGeneration, "input_fidelity"),
    "action": (ImageGeneration, "action"),
    "image_model": (ImageGeneration, "model"),
    "size": (ImageGeneration, "size"),
    "detail": (ResponseInputImageParam, "detail"),
    "complexity": (ImageGeneration, "complexity"),
}
# Each field of the SDK's request types is sent by an option (its tool_field / edit_field:
# options.generation.TOOL_FIELDS_MAPPED) or is declined here, with the reason.
# tests/test_capabilities.py fails when the SDK gains a field that is in neither.
_STILL_IMAGES = "we publish still raster images (png, webp, jpeg): gif and svg output are refused"
DECLINED = {
    "partial_images": "partial images need streaming, and OpenAI bills each partial's output "
    "tokens; our calls are not streamed, and the step lines already show progress",
    "frame_count": f"GIF only; {_STILL_IMAGES}",
    "frame_duration_ms": f"GIF only; {_STILL_IMAGES}",
    "svg": f"SVG only; {_STILL_IMAGES}",
}
EDIT_DECLINED = {
    **DECLINED,
    "markup": "a guide overlay for GPT Image 2.5 edits that cannot go with a mask; "
    "not offered yet (--mask covers inpainting)",
    "n": "one image per input: the pipeline publishes one output per source",
    "response_format": "legacy; GPT image models always answer base64 (the SDK's docstring)",
    "safety_identifier": "identifies an end user; a platform that has users can add it, "
    "the pipeline has none of its own",
    "user": "deprecated in favour of safety_identifier",
    "stream": "calls are not streamed (see partial_images)",
}
# Values the SDK lists that we refuse, and why (the rest are supported).
REFUSED: dict[str, dict[str, str]] = {
    "output_format": {
        "gif": "animated GIF output is not supported yet (our checks and the offline "
        "generator handle still images); use png, webp or jpeg",
        "svg": "SVG output is not supported yet (our checks and the offline generator "
        "handle raster images); use png, webp or jpeg",
    },
    "image_model": {
        "gpt-image-1": "gpt-image-1 was shut down on 2026-10-23; use gpt-image-2.5-sunburst "
        "or gpt-image-2.5-flare",
    },
}
# Formats that keep an alpha channel, so a transparent background survives.
TRANSPARENT_FORMATS = ("png", "webp")
_SIZE = re.compile(r"(\d{2,5})x(\d{2,5})")
MAX_EDGE = 3840
MAX_PIXELS = 3840 * 2160  # "the maximum supported resolution is 3840x2160" (the SDK)


def sdk_values(option: str) -> tuple[str, ...]:
    """Every literal value the installed SDK declares for ``option``, in its order."""
    typed_dict, field = _SDK_FIELDS[option]
    # get_type_hints drops Required[...]; what is left is a Literal, maybe in a Union.
    return tuple(dict.fromkeys(_literals(get_type_hints(typed_dict)[field])))


def _literals(annotation: Any) -> list[str]:
    origin = get_origin(annotation)
    if origin is Literal:
        return [str(value) for value in get_args(annotation)]
    if origin in (Union, types.UnionType):  # Optional[...], str | Literal[...]
        return [value for arg in get_args(annotation) for value in _literals(arg)]
    return []


def choices(option: str) -> tuple[str, ...]:
    """The values we accept for ``option``: the SDK's, less those refused."""
    refused = REFUSED.get(option, {})
    return tuple(value for value in sdk_values(option) if value not in refused)


def check_choice(option: str, value: str) -> str:
    """``value`` if we accept it for ``option``; ValueError saying why not otherwise."""
    reason = REFUSED.get(option, {}).get(value)
    if reason:
        raise ValueError(f"{option} {value!r} is refused: {reason}")
    allowed = choices(option)
    if value not in allowed:
        raise ValueError(f"{option} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def check_image_model(value: str | None) -> str | None:
    """A free model name (newer models than the SDK's list pass), except refused ones."""
    if value is None or not value.strip():
        return None
    reason = REFUSED["image_model"].get(value.strip())
    if reason:
        raise ValueError(f"image_model {value!r} is refused: {reason}")
    return value.strip()


def check_size(value: str) -> str:
    """``auto`` or ``WIDTHxHEIGHT`` that OpenAI can make: multiples of 16, aspect 1:3 to 3:1."""
    if value in sdk_values("size"):
        return value
    match = _SIZE.fullmatch(value.strip().lower())
    if match is None:
        raise ValueError(f"size must be auto or WIDTHxHEIGHT (e.g. 1536x1024); got {value!r}")
    width, height = int(match[1]), int(match[2])
    if width % 16 or height % 16:
        raise ValueError(f"size {value}: width and height must both be multiples of 16")
    if not 1 / 3 <= width / height <= 3:
        raise ValueError(f"size {value}: the aspect ratio must be between 1:3 and 3:1")
    if max(width, height) > MAX_EDGE:
        raise ValueError(f"size {value}: the longest edge may be at most {MAX_EDGE}")
    if width * height > MAX_PIXELS:
        raise ValueError(f"size {value}: at most 3840x2160 pixels in all (8.3 million)")
    return f"{width}x{height}"


def _choice(option: str) -> Any:
    # A dropdown in the Prefect UI (the JSON schema's enum), enforced when a run is created.
    return WithJsonSchema({"type": "string", "enum": list(choices(option))})


def _checked(option: str) -> AfterValidator:
    return AfterValidator(lambda value: check_choice(option, value))


Quality = Annotated[str, _checked("quality"), _choice("quality")]
Background = Annotated[str, _checked("background"), _choice("background")]
OutputFormat = Annotated[str, _checked("output_format"), _choice("output_format")]
Moderation = Annotated[str, _checked("moderation"), _choice("moderation")]
Action = Annotated[str, _checked("action"), _choice("action")]
Detail = Annotated[str, _checked("detail"), _choice("detail")]
Complexity = Annotated[str, _checked("complexity"), _choice("complexity")]
InputFidelity = Annotated[
    str | None,
    AfterValidator(lambda value: None if value is None else check_choice("input_fidelity", value)),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "enum": list(choices("input_fidelity"))}, {"type": "null"}]}
    ),
]
ImageModel = Annotated[
    str | None,
    AfterValidator(check_image_model),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string"}, {"type": "null"}],
            "examples": list(choices("image_model")),
        }
    ),
]
Size = Annotated[str, AfterValidator(check_size), WithJsonSchema({"type": "string"})]
