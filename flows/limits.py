"""Input limits: the largest file and the most pixels we accept before anything is decoded.

Both are read on every call, so a test or an operator can change them without a restart.
"""

from __future__ import annotations

from flows.errors import ConfigurationError
from flows.settings import env

DEFAULT_MAX_IMAGE_BYTES = 50 * 1024 * 1024
# Pillow warns at ~89 MP and refuses at twice that; a 50 MP image already needs ~200 MB of
# RAM as RGBA, which is as much as a small worker should spend on one input.
DEFAULT_MAX_IMAGE_PIXELS = 50_000_000


def max_image_bytes() -> int:
    """Largest accepted input: IMAGE_PIPELINE_MAX_IMAGE_BYTES, else 50 MB."""
    return _positive_int("IMAGE_PIPELINE_MAX_IMAGE_BYTES", DEFAULT_MAX_IMAGE_BYTES)


def max_image_pixels() -> int:
    """Most pixels (width x height) accepted: IMAGE_PIPELINE_MAX_IMAGE_PIXELS, else 50 M."""
    return _positive_int("IMAGE_PIPELINE_MAX_IMAGE_PIXELS", DEFAULT_MAX_IMAGE_PIXELS)


def _positive_int(name: str, default: int) -> int:
    raw = env(name)
    if raw is None:
        return default
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigurationError(
            f"{name} must be a positive whole number, got {raw!r}; fix or unset it "
            f"(default {default})"
        )
    return value
