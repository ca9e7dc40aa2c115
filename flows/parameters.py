"""The flows' parameters, defined once: type, bounds, choices and the description the UI shows.

The flows keep flat signatures (``-p quality=high`` and the UI form work as before) built
from the aliases here. Prefect reads a parameter's description only from the docstring's
``Args:`` section (``Field(description=...)`` inside ``Annotated`` is dropped), so
``described`` writes that section from ``DESCRIPTIONS`` for each flow's own parameters.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import Field

from flows.config import Background, Quality

__all__ = [
    "DESCRIPTIONS",
    "Background",
    "ConcurrencyParam",
    "DestinationParam",
    "ImagesParam",
    "Quality",
    "described",
]

FunctionT = TypeVar("FunctionT", bound=Callable[..., Any])

ImagesParam = Annotated[list[str], Field(min_length=1)]
ConcurrencyParam = Annotated[int, Field(ge=1, le=64)]
DestinationParam = Annotated[str, Field(min_length=1)]

_CREDENTIALS = "Name of an OpenAI Credentials block; default: OPENAI_API_KEY."
_BUCKET = "Name of an S3Bucket block; default: ARTIFACTS_BUCKET / auto-detect."
DESCRIPTIONS: dict[str, str] = {
    "image": "Image URL (http/https), s3:// URI or local path.",
    "images": "Inputs: http(s) URLs, s3:// URIs or local paths (duplicates run once).",
    "source_prefix": "Bucket prefix holding the source images.",
    "destination_prefix": "Bucket prefix for the outputs (and the manifest).",
    "manifest_key": "Manifest key; default: {destination_prefix}/manifest.json.",
    "prompt": "Prompt for OpenAI; empty uses the default recreation prompt.",
    "model": "OpenAI model with the image_generation tool.",
    "background": "Background of the generated image.",
    "quality": "Image quality setting.",
    "s3_prefix": "S3 key prefix for the uploads.",
    "keep_temp": "Keep downloaded inputs and generated PNGs on disk.",
    "output_dir": "Directory for temporary files (default: a temp dir).",
    "offline": "Dry run: local Pillow generator and local storage, no key needed.",
    "openai_credentials_block": _CREDENTIALS,
    "s3_bucket_block": _BUCKET,
    "concurrency": (
        "Most OpenAI calls in flight at once, 1 to 64 (as many other images may be "
        "loading or uploading meanwhile)."
    ),
}


def described(fn: FunctionT) -> FunctionT:
    """Append an ``Args:`` section describing each of ``fn``'s parameters (apply under @flow).

    Raises KeyError at import when a parameter has no entry in DESCRIPTIONS, so a new
    parameter cannot reach the UI form undocumented.
    """
    lines = []
    for name in inspect.signature(fn).parameters:
        text = textwrap.fill(
            f"{name}: {DESCRIPTIONS[name]}",
            width=92,
            initial_indent="    ",
            subsequent_indent="        ",
        )
        lines.append(text)
    summary = inspect.cleandoc(fn.__doc__ or "")
    fn.__doc__ = f"{summary}\n\nArgs:\n" + "\n".join(lines) + "\n"
    return fn
