"""Which flat colour the image model is asked to paint the background in: one absent
from the input, so cutting it out (steps.cutout) takes nothing of the subject."""

from __future__ import annotations

import io

import numpy as np
from numpy.typing import NDArray
from PIL import Image

RGB = tuple[int, int, int]
Floats = NDArray[np.float32]

# Saturated colours a model paints readily and logos seldom use; earlier ones win near-ties
# (magenta first: rare in logos, far from skin tones, greens and sky blues).
KEY_CANDIDATES: tuple[RGB, ...] = (
    (255, 0, 255),
    (0, 255, 0),
    (0, 0, 255),
    (0, 255, 255),
    (255, 255, 0),
    (255, 128, 0),
)
_TIE_SHARE = 0.9  # a candidate scoring within 10% of the best counts as a tie
# The key must clear all but this share of the subject's pixels (stray pixels, blends).
_NEAREST_QUANTILE = 0.002
_CHOOSE_SIDE = 256


def key_colour_hex(rgb: RGB) -> str:
    """``(255, 0, 255)`` -> ``"#FF00FF"``."""
    return "#{:02X}{:02X}{:02X}".format(*rgb)


def decode_rgba(image_bytes: bytes) -> NDArray[np.uint8]:
    """Any Pillow-readable image as an RGBA array."""
    with Image.open(io.BytesIO(image_bytes)) as image:
        return np.asarray(image.convert("RGBA"))


def _lab(rgb: Floats) -> Floats:
    """CIE Lab (D65) of sRGB values 0-255, shape (..., 3)."""
    c = rgb / np.float32(255.0)
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    to_xyz = np.array(
        [[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]
    )
    xyz = linear @ to_xyz.T / np.array([0.9505, 1.0, 1.089])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), (903.3 * xyz + 16.0) / 116.0)
    lightness = 116.0 * f[..., 1] - 16.0
    a, b = 500.0 * (f[..., 0] - f[..., 1]), 200.0 * (f[..., 1] - f[..., 2])
    return np.stack([lightness, a, b], axis=-1).astype(np.float32)


def _clearances(image_bytes: bytes, candidates: tuple[RGB, ...]) -> list[float]:
    """CIE Lab distance from each candidate to the nearest colours of the image."""
    image = Image.fromarray(decode_rgba(image_bytes), "RGBA")
    # NEAREST keeps real colours; averaging would blend a thin magenta line into grey.
    image.thumbnail((_CHOOSE_SIDE, _CHOOSE_SIDE), Image.Resampling.NEAREST)
    pixels = np.asarray(image, dtype=np.float32).reshape(-1, 4)
    colours = pixels[pixels[:, 3] > 0, :3]  # fully transparent pixels show nothing
    if colours.size == 0:
        return [float("inf")] * len(candidates)
    keys = _lab(np.array(candidates, dtype=np.float32))
    distances = np.linalg.norm(_lab(colours)[:, None, :] - keys[None], axis=-1)
    return [float(d) for d in np.quantile(distances, _NEAREST_QUANTILE, axis=0)]


def choose_key_colour(image_bytes: bytes) -> RGB:
    """The candidate key colour farthest (CIE Lab) from the colours of the image."""
    scores = _clearances(image_bytes, KEY_CANDIDATES)
    best = max(scores)
    return next(c for c, s in zip(KEY_CANDIDATES, scores, strict=True) if s >= best * _TIE_SHARE)


def key_clearance(image_bytes: bytes, key: RGB) -> float:
    """How far (CIE Lab Delta E) ``key`` stays from the image's colours; small means risky."""
    return _clearances(image_bytes, (key,))[0]
