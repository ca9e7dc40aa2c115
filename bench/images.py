"""Benchmark inputs: distinct, incompressible PNGs of a chosen size.

Random noise barely compresses, so a PNG of ``side x side`` RGB noise is about
``3 * side**2`` bytes; each image has its own seed so no two share a cache key.
"""

from __future__ import annotations

import io
import math
import random
from pathlib import Path

from PIL import Image

# PNG adds a filter byte per row and a few header/chunk bytes; noise does not deflate.
_PNG_BYTES_PER_PIXEL = 3


def side_for(target_bytes: int) -> int:
    """Side of a square RGB noise image whose PNG is roughly ``target_bytes``."""
    return max(8, math.isqrt(max(target_bytes, 1) // _PNG_BYTES_PER_PIXEL))


def noise_png(side: int, seed: int) -> bytes:
    """An RGB noise PNG; ``random.Random(seed)`` makes it reproducible and distinct."""
    pixels = random.Random(seed).randbytes(side * side * 3)
    out = io.BytesIO()
    # compress_level=1: noise does not shrink anyway, and level 6 only costs CPU here.
    Image.frombytes("RGB", (side, side), pixels).save(out, format="PNG", compress_level=1)
    return out.getvalue()


def write_batch(directory: Path, count: int, target_bytes: int, first_seed: int) -> list[str]:
    """Write ``count`` distinct PNGs named ``img-<seed>.png``; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    side = side_for(target_bytes)
    paths: list[str] = []
    for seed in range(first_seed, first_seed + count):
        path = directory / f"img-{seed:06d}.png"
        path.write_bytes(noise_png(side, seed))
        paths.append(str(path))
    return paths
