"""What a web copy costs per format and width: encode time and size (issue 27).

Two 1024x1024 outputs are built in memory with Pillow, as PNG bytes like OpenAI returns:
a photo-like opaque RGB image (gradients, shapes, texture, grain) and a logo-like RGBA image
(antialiased shapes on a transparent background). For each image, each format in
``ENCODINGS`` and each width (1024 = the output's own, 640, 320), ``render_copy`` is timed
after one warm-up: the median wall time (decode, resize, encode, as the pipeline runs
it), the copy's size and its share of the PNG original. On the logo, webp/avif/png copies
are read back and a corner pixel must stay fully transparent. Prints a markdown table,
then the raw figures as JSON. Run: ``uv run python -m bench.web_copies`` (about 20 s).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFilter

from bench.machine import describe
from prefect_image_pipeline.steps.web_copies import ENCODINGS, CopyPlan, render_copy

SIDE = 1024
WIDTHS: tuple[int | None, ...] = (None, 640, 320)


def _png(picture: Image.Image) -> bytes:
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


def photo_png() -> bytes:
    """Opaque, photo-like: colour gradients, a few shapes, texture at three scales, grain."""
    size = (SIDE, SIDE)
    red = Image.linear_gradient("L").resize(size)
    green = Image.radial_gradient("L").resize(size)
    blue = red.transpose(Image.Transpose.ROTATE_90)
    picture = Image.merge("RGB", (red, green, blue))
    draw = ImageDraw.Draw(picture)
    draw.ellipse((180, 220, 560, 600), fill=(220, 150, 90))
    draw.rectangle((600, 500, 920, 900), fill=(40, 90, 140))
    draw.polygon([(100, 950), (400, 650), (700, 980)], fill=(70, 130, 60))
    picture = picture.filter(ImageFilter.GaussianBlur(3))  # soft edges, like a lens
    # Noise upscaled from 32, 128 and 512 px: mottled texture (foliage, fabric) a codec
    # must keep, not only grain it can smooth away. Then fine grain on top.
    for side, weight in ((32, 0.2), (128, 0.15), (512, 0.12)):
        texture = [Image.effect_noise((side, side), 64) for _ in range(3)]
        picture = Image.blend(picture, Image.merge("RGB", texture).resize(size), weight)
    grain = Image.merge("RGB", [Image.effect_noise(size, 40) for _ in range(3)])
    return _png(Image.blend(picture, grain, 0.05))


def logo_png() -> bytes:
    """Logo-like RGBA: flat shapes on alpha 0, drawn at 2x and reduced (antialiased edges)."""
    big = Image.new("RGBA", (2 * SIDE, 2 * SIDE), (0, 0, 0, 0))
    draw = ImageDraw.Draw(big)
    draw.ellipse((424, 424, 1624, 1624), fill=(230, 80, 40, 255))
    draw.ellipse((724, 724, 1324, 1324), fill=(255, 255, 255, 255))
    draw.polygon([(1024, 560), (1500, 1400), (548, 1400)], fill=(30, 60, 120, 255))
    draw.rounded_rectangle((500, 1700, 1548, 1860), radius=60, fill=(30, 60, 120, 230))
    return _png(big.resize((SIDE, SIDE), Image.Resampling.LANCZOS))


def decode_ms(original: bytes, repeats: int) -> float:
    """Median time to decode the PNG alone (part of every copy's time), after a warm-up."""
    times_ms = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        Image.open(io.BytesIO(original)).load()
        times_ms.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times_ms[1:]), 1)


def _corner_alpha(copy: bytes) -> int:
    return Image.open(io.BytesIO(copy)).convert("RGBA").crop((0, 0, 1, 1)).tobytes()[3]


def measure(
    name: str, original: bytes, fmt: str, width: int | None, repeats: int
) -> dict[str, Any]:
    """Median time of ``render_copy`` for one copy, its size, and whether alpha survived."""
    plan = CopyPlan(width, fmt)
    copy, out_width, out_height = render_copy(original, plan)  # warm-up (codec set-up)
    times_ms = []
    for _ in range(repeats):
        started = time.perf_counter()
        copy, out_width, out_height = render_copy(original, plan)
        times_ms.append((time.perf_counter() - started) * 1000)
    alpha_kept: bool | None = None
    if name == "logo" and ENCODINGS[fmt].alpha:
        alpha_kept = _corner_alpha(copy) == 0
        assert alpha_kept, f"{fmt} {width}: transparent corner became opaque"
    return {
        "image": name, "format": fmt, "width": out_width, "height": out_height,
        "median_ms": round(statistics.median(times_ms), 1),
        "times_ms": [round(t, 1) for t in times_ms],
        "bytes": len(copy), "original_png_bytes": len(original),
        "share_of_png": round(len(copy) / len(original), 4), "alpha_kept": alpha_kept,
    }  # fmt: skip


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table."""
    lines = [
        "| image | format | width | median encode (ms) | size (KB) | share of PNG | alpha kept |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        alpha = {True: "yes", False: "NO", None: "n/a"}[row["alpha_kept"]]
        lines.append(
            f"| {row['image']} | {row['format']} | {row['width']} | {row['median_ms']:.1f}"
            f" | {row['bytes'] / 1000:.1f} | {row['share_of_png']:.1%} | {alpha} |"
        )
    return "\n".join(lines)


def main() -> None:
    """Measure every image x format x width, print the table and the JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.web_copies")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    images = {"photo": photo_png(), "logo": logo_png()}
    started = time.perf_counter()
    rows = [
        measure(name, original, fmt, width, args.repeats)
        for name, original in images.items()
        for fmt in ENCODINGS
        for width in WIDTHS
    ]
    originals = {name: len(data) for name, data in images.items()}
    decode = {name: decode_ms(data, args.repeats) for name, data in images.items()}
    print(f"originals (PNG bytes): {originals}; PNG decode alone (median ms): {decode}")
    print(f"{args.repeats} repeats after one warm-up\n")
    print(table(rows) + "\n")
    results = {
        "machine": describe(), "repeats": args.repeats, "originals_png_bytes": originals,
        "png_decode_median_ms": decode,
        "runtime_s": round(time.perf_counter() - started, 1), "rows": rows,
    }  # fmt: skip
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
