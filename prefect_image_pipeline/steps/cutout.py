"""Cut a flat key-coloured background out of a generated image (chroma keying), locally.

The image models refuse ``background: transparent``, so the model is asked for the subject
on a flat key colour picked far from every colour of the input (steps.key_colour),
and :func:`cut_out` turns that background transparent. See docs/cutout.md.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from prefect_image_pipeline.steps.key_colour import RGB, decode_rgba

Floats = NDArray[np.float32]
Mask = NDArray[np.bool_]
Index = NDArray[np.intp]
Grid = TypeVar("Grid", NDArray[np.float32], NDArray[np.bool_])

# All distances are Euclidean RGB (0-441), which, unlike Lab, is linear in the blend an
# anti-aliased edge makes: observed = a * subject + (1 - a) * background.
# A model paints "magenta" tens of levels off; subject colours are hundreds away.
_FIND_TOLERANCE = 120.0
_MIN_BORDER_SHARE = 0.25  # less of the border near the key: the model ignored the key
_BORDER_PX = 4
# Below T_LO from the painted colour a pixel is background (a gradient, vignette or noise
# stays under it, see docs/cutout.md); from T_HI on it is solid subject; between, it is
# soft: an edge, a shadow, a glow, whose alpha comes from its colours.
T_LO = 40.0
T_HI = 140.0
# Within _EDGE_PX of cleared background, alpha comes from the local background and the
# nearby subject colour instead (exact on anti-aliased edges, see _edge_alpha); 2 px also
# spans the colour smear of JPEG's half-resolution chroma.
_EDGE_PX = 2
# A soft region is trusted only when it is connected to cleared background; one that
# is not is a subject colour that merely resembles the key. Searched within _RIM_PX pixels,
# then over _BLOCK-pixel blocks up to _REACH_BLOCKS blocks away.
_RIM_PX = 6
_BLOCK = 4
_REACH_BLOCKS = 96
_SPECK_ALPHA = 0.35  # weak alpha with no stronger neighbour is noise, not an edge
_ISLAND_PX = 8  # this few uncleared pixels in a cleared 5x5 window: a compression speck
# zlib level 6 (Pillow's default): a quarter smaller than level 1-3 for 15-30 ms more.
PNG_LEVEL = 6


@dataclass(frozen=True)
class CutOut:
    """The RGBA PNG and what the cut measured."""

    png: bytes
    background_found: bool
    background: RGB | None  # the colour the model actually painted (border median)
    transparent_share: float  # share of pixels made fully transparent
    soft_share: float  # share of pixels left semi-transparent (edges)


def _distance(rgb: NDArray[np.uint8] | Floats, colour: Floats) -> Floats:
    """Euclidean RGB distance of each pixel (last axis) to ``colour`` (broadcast)."""
    diff = rgb.astype(np.float32) - colour
    squared: Floats = np.einsum("...c,...c->...", diff, diff)
    return np.sqrt(squared)


def estimate_background(rgba: NDArray[np.uint8], key: RGB) -> Floats | None:
    """Median colour of the opaque border pixels near the key, or None if too few are."""
    b = _BORDER_PX
    sides = (rgba[:b], rgba[-b:], rgba[b:-b, :b], rgba[b:-b, -b:])
    ring = np.concatenate([side.reshape(-1, 4) for side in sides]).astype(np.float32)
    ring = ring[ring[:, 3] == 255, :3]
    near = ring[_distance(ring, np.array(key, dtype=np.float32)) < _FIND_TOLERANCE]
    if near.shape[0] == 0 or near.shape[0] < _MIN_BORDER_SHARE * ring.shape[0]:
        return None
    # Second pass around the first median drops subject pixels that were merely near.
    close = near[_distance(near, np.median(near, axis=0)) < T_LO]
    return np.median(close if close.size else near, axis=0).astype(np.float32)


def _max3(values: Grid) -> Grid:
    """3x3 maximum filter, separable; on a mask, a 3x3 dilation."""
    rows = values.copy()
    np.maximum(rows[1:], values[:-1], out=rows[1:])
    np.maximum(rows[:-1], values[1:], out=rows[:-1])
    out = rows.copy()
    np.maximum(out[:, 1:], rows[:, :-1], out=out[:, 1:])
    np.maximum(out[:, :-1], rows[:, 1:], out=out[:, :-1])
    return out


def _grow(seeds: Mask, allowed: Mask, steps: int) -> Mask:
    """``seeds`` grown through ``allowed`` pixels (8-connected), at most ``steps`` times."""
    reached = seeds & allowed
    for _ in range(steps):
        grown = _max3(reached) & allowed
        if np.array_equal(grown, reached):
            break
        reached = grown
    return reached


def _blocks(mask: Mask, every: bool) -> Mask:
    """``mask`` reduced to _BLOCK x _BLOCK blocks: all (or any) of each block set."""
    b = _BLOCK
    h, w = mask.shape[0] // b, mask.shape[1] // b
    cells = mask[: h * b, : w * b].reshape(h, b, w, b)
    reduce = np.logical_and if every else np.logical_or
    reduced: Mask = reduce.reduce(reduce.reduce(cells, axis=3), axis=1)
    return reduced


def _guard(soft: Mask, clear: Mask) -> Mask:
    """The soft pixels not connected to cleared background (subject, not edge or shadow)."""
    # Keying is global, so holes inside letters clear (the key is absent from the subject);
    # this guard keeps a key-ish subject area that is enclosed by the subject opaque.
    allowed = clear | soft
    # Wide soft regions (shadows) are reached over whole blocks, cheaply; a block with any
    # opaque pixel is a wall, so a thin outline still encloses what it surrounds.
    coarse = _grow(_blocks(clear, every=False), _blocks(allowed, every=True), _REACH_BLOCKS)
    far = np.zeros_like(clear)
    big = coarse.repeat(_BLOCK, 0).repeat(_BLOCK, 1)
    far[: big.shape[0], : big.shape[1]] = big
    return soft & ~_grow(clear | far, allowed, _RIM_PX)


def _box_count(mask: Mask, r: int) -> NDArray[np.int16]:
    """How many pixels of each (2r+1)^2 window are set (outside the image counts as set)."""
    padded = np.pad(mask.astype(np.int16), r, constant_values=1)
    h, w = mask.shape
    rows = padded[:h].copy()
    for i in range(1, 2 * r + 1):
        rows += padded[i : i + h]
    count = rows[:, :w].copy()
    for j in range(1, 2 * r + 1):
        count += rows[:, j : j + w]
    return count


def _background_distance(rgba: NDArray[np.uint8], background: Floats) -> Floats:
    """Distance of every pixel to ``background``, via per-channel tables (no float image)."""
    levels = np.arange(256, dtype=np.float32)
    total = np.zeros(rgba.shape[:2], dtype=np.float32)
    for channel in range(3):
        table = (levels - background[channel]) ** 2
        total += table[rgba[..., channel]]
    return np.sqrt(total, out=total)


def _window_indices(shape: tuple[int, ...], ys: Index, xs: Index) -> list[Index]:
    """Flat indices of each offset of the (2r+1)^2 window around the listed pixels."""
    h, w = shape[0], shape[1]
    rows = [np.clip(ys + d, 0, h - 1) * w for d in range(-_EDGE_PX, _EDGE_PX + 1)]
    cols = [np.clip(xs + d, 0, w - 1) for d in range(-_EDGE_PX, _EDGE_PX + 1)]
    return [row + col for row in rows for col in cols]


def _edge_alpha(
    rgba: NDArray[np.uint8], distance: Floats, clear: Mask, ys: Index, xs: Index
) -> tuple[Floats, Floats]:
    """Alpha and local background of edge pixels, from their (2r+1)^2 window."""
    # The background is the mean of the window's cleared pixels (it follows gradients and
    # vignettes); the subject is the window's pixel farthest from it. Alpha is the pixel's
    # share of that distance: exact where an edge blends two flat colours.
    pixels = rgba.reshape(-1, 4)
    # One 32-bit word per pixel: gathering a word is much cheaper than gathering 3 bytes.
    words = pixels.view(np.uint32)[:, 0]
    flat_clear, flat_distance = clear.reshape(-1), distance.reshape(-1)
    total = np.zeros((ys.size, 4), dtype=np.int32)
    count = np.zeros(ys.size, dtype=np.int32)
    farthest = np.zeros(ys.size, dtype=np.float32)
    subject = np.zeros(ys.size, dtype=np.intp)
    for index in _window_indices(rgba.shape, ys, xs):
        hit = flat_clear[index]
        total += (words[index] * hit).view(np.uint8).reshape(-1, 4)
        count += hit
        far = flat_distance[index]
        better = far > farthest
        farthest[better], subject[better] = far[better], index[better]
    background = (total[:, :3] / count[:, None]).astype(np.float32)  # count > 0: near clear
    own = _distance(pixels[ys * rgba.shape[1] + xs, :3], background)
    # The farthest pixel (by the median background) measured from the local background.
    full = _distance(pixels[subject, :3], background)
    alpha = np.minimum(own / np.maximum(full, 1.0), 1.0)
    # No solid subject in the window (nothing T_HI from the key): the rim of a shadow or a
    # glow, whose colour is unknown, so it gets the least alpha its colour allows.
    faint = full < T_HI
    alpha[faint] = _least_alpha(
        pixels[ys[faint] * rgba.shape[1] + xs[faint], :3], background[faint]
    )
    return alpha.astype(np.float32), background


def _least_alpha(observed: NDArray[np.uint8], background: Floats) -> Floats:
    """The smallest alpha that explains ``observed`` as some colour over ``background``."""
    # observed = a * colour + (1 - a) * background with every channel of colour in 0-255.
    diff = observed.astype(np.float32) - background
    room = np.where(diff > 0, 255.0 - background, background)
    least: Floats = np.max(np.abs(diff) / np.maximum(room, 1.0), axis=-1)
    return np.minimum(least, 1.0)


def _key_alpha(
    rgba: NDArray[np.uint8], background: Floats
) -> tuple[Floats, tuple[Index, Index], Floats]:
    """Alpha 0-1 of every pixel, the edge pixels' indices and their local backgrounds."""
    distance = _background_distance(rgba, background)
    clear = distance < T_LO
    soft = ~clear & (distance < T_HI)
    protected = _guard(soft, clear)
    alpha = (~clear).astype(np.float32)
    # Soft regions (shadows, glows) are a colour of their own over the background; the
    # least alpha their colour allows is exact for a black shadow or a white glow.
    sy, sx = np.nonzero(soft & ~protected)
    alpha[sy, sx] = _least_alpha(rgba[sy, sx, :3], background)
    near = clear
    for _ in range(_EDGE_PX):
        near = _max3(near)
    ys, xs = np.nonzero(near & ~clear & ~protected)
    edge_alpha, local = _edge_alpha(rgba, distance, clear, ys, xs)
    alpha[ys, xs] = edge_alpha
    # Specks: a small island in a cleared 5x5 window, or weak with no stronger neighbour
    # and mostly cleared around (a faint shadow is not).
    cleared = _box_count(clear, 2)
    island = cleared >= 25 - _ISLAND_PX
    alpha[island | (_max3(alpha) < _SPECK_ALPHA) & (cleared > 12)] = 0.0
    return alpha, (ys, xs), local


def _png(rgba: NDArray[np.uint8]) -> bytes:
    """Encode an RGBA array as PNG."""
    out = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(out, format="PNG", compress_level=PNG_LEVEL)
    return out.getvalue()


def _unspill(observed: NDArray[np.uint8], alpha: Floats, background: Floats) -> NDArray[np.uint8]:
    """The subject colour under a blend: (observed - (1 - a) * background) / a, clamped."""
    a = np.maximum(alpha, 1.0 / 255.0)[:, None]
    colour = (observed.astype(np.float32) - (1.0 - a) * background) / a
    return np.rint(np.clip(colour, 0.0, 255.0)).astype(np.uint8)


def cut_out(image_bytes: bytes, key: RGB) -> CutOut:
    """Make the key-coloured background of ``image_bytes`` transparent, as an RGBA PNG."""
    rgba = decode_rgba(image_bytes)
    background = estimate_background(rgba, key)
    if background is None:
        return CutOut(_png(rgba), False, None, 0.0, 0.0)
    alpha, edge, local = _key_alpha(rgba, background)
    if (rgba[..., 3] < 255).any():
        alpha *= rgba[..., 3] / np.float32(255.0)
    a8 = np.rint(alpha * 255.0).astype(np.uint8)
    # No key colour left under transparent pixels (one 32-bit word per pixel: fast).
    words = np.where(a8 > 0, np.ascontiguousarray(rgba).view(np.uint32)[..., 0], 0)
    out = words.astype(np.uint32)[..., None].view(np.uint8)
    out[..., 3] = a8
    soft = (a8 > 0) & (a8 < 255)
    ys, xs = np.nonzero(soft)
    out[ys, xs, :3] = _unspill(rgba[ys, xs, :3], alpha[ys, xs], background)
    # Edges blended with their local background (gradients, vignettes), not the median.
    keep = soft[edge]
    ys, xs = edge[0][keep], edge[1][keep]
    out[ys, xs, :3] = _unspill(rgba[ys, xs, :3], alpha[ys, xs], local[keep])
    found = (int(background[0]), int(background[1]), int(background[2]))
    transparent = round(float(np.mean(a8 == 0)), 4)
    return CutOut(_png(out), True, found, transparent, round(float(np.mean(soft)), 4))
