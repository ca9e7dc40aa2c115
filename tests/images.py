"""Small real images made with Pillow for tests."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw


def logo(size: tuple[int, int] = (160, 100), fmt: str = "PNG", seed: int = 0) -> bytes:
    """A white-background 'logo' (blue box, yellow dot); ``seed`` varies the pixels."""
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.rectangle((w // 5, h // 5, 4 * w // 5, 4 * h // 5), fill=(30, 90, 200))
    draw.ellipse((w // 4, h // 3, w // 4 + h // 4, h // 3 + h // 4), fill=(250, 200, 40))
    draw.point((w // 2, h // 2), fill=(seed % 256, (seed // 256) % 256, 7))
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def solid(size: tuple[int, int], colour: tuple[int, int, int, int], fmt: str = "PNG") -> bytes:
    """A single-colour image."""
    mode = "RGBA" if fmt in ("PNG", "WEBP") else "RGB"
    image = Image.new(mode, size, colour if mode == "RGBA" else colour[:3])
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def open_image(data: bytes) -> Image.Image:
    """Decode bytes into a loaded Pillow image."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def animated_gif(frames: int = 3) -> bytes:
    """An 8x8 GIF of ``frames`` frames (one frame: a still GIF)."""
    images = [Image.new("RGB", (8, 8), (80 * n % 256, 0, 255 - n)) for n in range(frames)]
    out = io.BytesIO()
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:], duration=100)
    return out.getvalue()


def large_blank_png(width: int, height: int) -> bytes:
    """A 1-bit black PNG: many pixels in a few kilobytes."""
    out = io.BytesIO()
    Image.new("1", (width, height)).save(out, format="PNG")
    return out.getvalue()


def logo_files(directory: Path, count: int, size: tuple[int, int] = (160, 100)) -> list[str]:
    """``count`` different logos written as ``logo-N.png`` in ``directory``; their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        path = directory / f"logo-{n}.png"
        path.write_bytes(logo(size=size, seed=n))
        paths.append(str(path))
    return paths
