"""What each image model refuses, as the fake OpenAI answers it (status, type, code, param).

Written from the openai SDK's docstrings (``ImageGeneration``, ``ImageEditParams``) and
from what users report the live API answers, independently of the pipeline's own
capability table (prefect_image_pipeline.options.capabilities), so a test that goes through both checks one
against the other:

- transparency: refused by the gpt-image-2, 2.5 and 2.6 models with
  ``400 invalid_value "Transparent background is not supported for this model."``
  (Wei-Shaw/sub2api#7150, gaoren002/GPT2Image-Pro#2), the tool's default model included;
- ``input_fidelity``: high and low on gpt-image-1.5, low only on gpt-image-1-mini, to be
  omitted for gpt-image-2 (the SDK says nothing of the others, so they take it);
- ``quality`` xhigh and max: the gpt-image-2.5 models only;
- ``WIDTHxHEIGHT`` beyond the standard sizes: the gpt-image-2 and 2.5 families only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["DEFAULT_IMAGE_MODEL", "model_refusal"]

DEFAULT_IMAGE_MODEL = "gpt-image-2.6-sunburst"  # the SDK's ImageGeneration.model docstring
_STANDARD_SIZES = ("1024x1024", "1024x1536", "1536x1024", "auto")
_FIDELITY = {"gpt-image-1.5": ("high", "low"), "gpt-image-1-mini": ("low",)}


def _family(model: str) -> str:
    for prefix in ("gpt-image-2.5", "gpt-image-2.6", "gpt-image-2"):
        if model.startswith(prefix):
            return prefix
    return model


def model_refusal(fields: Mapping[str, Any], param_prefix: str) -> dict[str, Any] | None:
    """The error body OpenAI answers for ``fields`` (image tool or edit form), or None.

    ``param_prefix``: "tools[0]." for the Responses tool, "" for the Images API.
    """
    model = str(fields.get("model") or DEFAULT_IMAGE_MODEL)
    family = _family(model)
    if fields.get("background") == "transparent" and family.startswith("gpt-image-2"):
        return _error(
            "Transparent background is not supported for this model.",
            f"{param_prefix}background",
        )
    fidelity = fields.get("input_fidelity")
    allowed = _FIDELITY.get(model, () if family == "gpt-image-2" else ("high", "low"))
    if fidelity is not None and fidelity not in allowed:
        return _error(
            f"Unsupported parameter: 'input_fidelity' with value '{fidelity}' is not "
            f"supported with model '{model}'.",
            f"{param_prefix}input_fidelity",
            code="unsupported_parameter",
        )
    quality = fields.get("quality")
    if quality in ("xhigh", "max") and family != "gpt-image-2.5":
        return _error(
            f"Invalid value: '{quality}'. Supported values are: 'low', 'medium', 'high', "
            "and 'auto'.",
            f"{param_prefix}quality",
        )
    size = fields.get("size")
    if size is not None and size not in _STANDARD_SIZES and family not in _CUSTOM_SIZES:
        return _error(
            f"Invalid value: '{size}'. Supported values are: '1024x1024', '1024x1536', "
            "'1536x1024', and 'auto'.",
            f"{param_prefix}size",
        )
    return None


_CUSTOM_SIZES = ("gpt-image-2", "gpt-image-2.5")


def _error(message: str, param: str, code: str = "invalid_value") -> dict[str, Any]:
    return {"message": message, "type": "invalid_request_error", "param": param, "code": code}
