"""How well and how fast steps.cutout removes a key-coloured background, on this machine.

Each case is an RGBA image whose true alpha is known: samples/logo.png with the white
connected to its border made transparent, samples/badge.png (its own alpha), samples/
photo.jpg inside an anti-aliased rounded rectangle, and logos drawn with Pillow at 4x then
reduced (anti-aliased edges). Each is scaled (bicubic, so the samples' hard edges turn
soft) onto a 1024x1024 canvas, laid on the key colour ``choose_key_colour`` picks for it,
painted as a model would (6-7 levels off the key, a +-4 level gradient, a vignette 14
levels darker in the corners) and saved as JPEG quality 90, then as PNG (what the image
API returns by default). The cut is compared with the true alpha:

- background cleared: share of true alpha 0 pixels given alpha <= 0.1;
- subject kept: share of true alpha 255 pixels keeping alpha >= 0.9;
- edge MAE: mean |alpha error| (0-1) within 1 px of where the true alpha changes;
- spill: mean RGB levels by which edge pixels (true alpha >= 0.25) lean toward the key
  (negative: away from it);
- ms, CPU ms: median wall and CPU time of ``cut_out`` (decode, cut, PNG encode).

Run: ``uv run python -m bench.cutout`` (about a minute); ``--preview DIR`` saves side-by-sides.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from bench.machine import describe
from prefect_image_pipeline.steps.cutout import CutOut, cut_out
from prefect_image_pipeline.steps.key_colour import choose_key_colour, key_clearance, key_colour_hex

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
SIDE = 1024
_SUPER = 4  # drawings are made at 4x and reduced: anti-aliased edges with a known alpha
RGB = tuple[int, int, int]


def _reduce(big: Image.Image) -> Image.Image:
    """The 4x drawing reduced to its size (Pillow averages RGBA premultiplied)."""
    return big.resize((big.width // _SUPER, big.height // _SUPER), Image.Resampling.BOX)


def _canvas(subject: Image.Image, margin: int = 64) -> Image.Image:
    """``subject`` scaled to fit a transparent SIDE x SIDE canvas, centred."""
    scale = (SIDE - 2 * margin) / max(subject.size)
    size = (round(subject.width * scale), round(subject.height * scale))
    canvas = Image.new("RGBA", (SIDE, SIDE), (0, 0, 0, 0))
    fitted = subject.resize(size, Image.Resampling.BICUBIC)
    canvas.alpha_composite(fitted, ((SIDE - size[0]) // 2, (SIDE - size[1]) // 2))
    return canvas


def sample_logo() -> Image.Image:
    """samples/logo.png with the white connected to its border made transparent."""
    image = Image.open(SAMPLES / "logo.png").convert("RGB")
    ImageDraw.floodfill(image, (0, 0), (1, 2, 3), thresh=0)
    rgba = np.asarray(image.convert("RGBA")).copy()
    rgba[(rgba[..., :3] == (1, 2, 3)).all(-1)] = 0
    return Image.fromarray(rgba, "RGBA")


def sample_photo() -> Image.Image:
    """samples/photo.jpg inside an anti-aliased rounded rectangle (the mask is the truth)."""
    photo = Image.open(SAMPLES / "photo.jpg").convert("RGBA")
    mask = Image.new("L", (photo.width * _SUPER, photo.height * _SUPER), 0)
    inset = 12 * _SUPER
    box = (inset, inset, mask.width - inset, mask.height - inset)
    ImageDraw.Draw(mask).rounded_rectangle(box, radius=40 * _SUPER, fill=255)
    photo.putalpha(mask.resize(photo.size, Image.Resampling.BOX))
    return photo


def text_logo() -> Image.Image:
    """Dark text with holes (B, O, A, 8, e) and a thin underline."""
    big = Image.new("RGBA", (900 * _SUPER, 400 * _SUPER), (0, 0, 0, 0))
    draw = ImageDraw.Draw(big)
    font = ImageFont.load_default(size=150 * _SUPER)
    draw.text((30 * _SUPER, 20 * _SUPER), "BOA 80", font=font, fill=(25, 35, 70, 255))
    draw.text((30 * _SUPER, 200 * _SUPER), "goede", font=font, fill=(200, 40, 40, 255))
    draw.line((30 * _SUPER, 385 * _SUPER, 870 * _SUPER, 385 * _SUPER), (25, 35, 70), 3 * _SUPER)
    return _reduce(big)


def thin_lines() -> Image.Image:
    """Line art: 1, 1.5, 2 and 3 px lines at several angles, and a 1.5 px ring."""
    big = Image.new("RGBA", (600 * _SUPER, 600 * _SUPER), (0, 0, 0, 0))
    draw = ImageDraw.Draw(big)
    for i, width in enumerate((1.0, 1.5, 2.0, 3.0)):
        y = (40 + 60 * i) * _SUPER
        draw.line(
            (20 * _SUPER, y, 580 * _SUPER, y + 200 * _SUPER), (20, 20, 20), round(width * _SUPER)
        )
        x = (300 + 60 * i) * _SUPER
        draw.line(
            (x, 300 * _SUPER, x + 30 * _SUPER, 580 * _SUPER), (30, 90, 200), round(width * _SUPER)
        )
    draw.ellipse(
        (40 * _SUPER, 320 * _SUPER, 260 * _SUPER, 540 * _SUPER), outline=(0, 140, 60), width=6
    )
    return _reduce(big)


def circles() -> Image.Image:
    """An anti-aliased filled disc and a ring."""
    big = Image.new("RGBA", (500 * _SUPER, 500 * _SUPER), (0, 0, 0, 0))
    draw = ImageDraw.Draw(big)
    draw.ellipse((10 * _SUPER, 10 * _SUPER, 490 * _SUPER, 490 * _SUPER), fill=(240, 150, 30))
    draw.ellipse((120 * _SUPER, 120 * _SUPER, 380 * _SUPER, 380 * _SUPER), fill=(0, 0, 0, 0))
    draw.ellipse((170 * _SUPER, 170 * _SUPER, 330 * _SUPER, 330 * _SUPER), fill=(40, 40, 40))
    return _reduce(big)


def magenta_logo() -> Image.Image:
    """Magenta and pink shapes with white text: the key must not be magenta."""
    big = Image.new("RGBA", (600 * _SUPER, 400 * _SUPER), (0, 0, 0, 0))
    draw = ImageDraw.Draw(big)
    draw.rounded_rectangle((0, 0, 600 * _SUPER - 1, 400 * _SUPER - 1), 60 * _SUPER, (230, 0, 200))
    draw.ellipse((40 * _SUPER, 40 * _SUPER, 200 * _SUPER, 200 * _SUPER), (255, 110, 220))
    font = ImageFont.load_default(size=110 * _SUPER)
    draw.text((220 * _SUPER, 230 * _SUPER), "pop", font=font, fill=(255, 255, 255), anchor="lm")
    return _reduce(big)


def rainbow_logo() -> Image.Image:
    """Stripes of every candidate key colour: whichever key wins is close to a stripe."""
    big = Image.new("RGBA", (600 * _SUPER, 360 * _SUPER), (0, 0, 0, 0))
    draw = ImageDraw.Draw(big)
    colours = [
        (240, 20, 230),
        (20, 220, 40),
        (20, 30, 230),
        (30, 230, 230),
        (240, 230, 30),
        (245, 130, 20),
    ]
    for i, colour in enumerate(colours):
        draw.rounded_rectangle(
            ((20 + 95 * i) * _SUPER, 20 * _SUPER, (100 + 95 * i) * _SUPER, 340 * _SUPER),
            30 * _SUPER,
            colour,
        )
    return _reduce(big)


def soft_shadow() -> Image.Image:
    """A navy card with a blurred 50% black drop shadow (semi-transparent: a known limit)."""
    big = Image.new("RGBA", (500, 400), (0, 0, 0, 0))
    shadow = Image.new("RGBA", big.size, (0, 0, 0, 0))
    ImageDraw.Draw(shadow).rounded_rectangle((60, 60, 460, 360), 30, (0, 0, 0, 128))
    big.alpha_composite(shadow.filter(ImageFilter.GaussianBlur(14)))
    ImageDraw.Draw(big).rounded_rectangle((40, 40, 440, 340), 30, (30, 50, 110))
    return big


CASES: dict[str, Callable[[], Image.Image]] = {
    "logo.png": sample_logo,
    "badge.png": lambda: Image.open(SAMPLES / "badge.png").convert("RGBA"),
    "photo.jpg (rounded crop)": sample_photo,
    "text with holes": text_logo,
    "thin lines": thin_lines,
    "anti-aliased circles": circles,
    "magenta logo": magenta_logo,
    "rainbow (all keys)": rainbow_logo,
    "soft drop shadow": soft_shadow,
}


def painted_background(key: RGB) -> Image.Image:
    """The key as a model paints it: a few levels off, with a gradient and a vignette."""
    y, x = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32) / SIDE - 0.5
    shift = np.array([-6.0, 5.0, -7.0], dtype=np.float32)
    light = 8.0 * x - 28.0 * (x * x + y * y)  # +-4 levels across, -14 at the corners
    rgb = np.clip(np.array(key, dtype=np.float32) + shift + light[..., None], 0, 255)
    return Image.fromarray(np.rint(rgb).astype(np.uint8), "RGB").convert("RGBA")


def model_output(truth: Image.Image, key: RGB, fmt: str) -> bytes:
    """``truth`` laid on the painted key background, encoded as the model would send it."""
    image = painted_background(key)
    image.alpha_composite(truth)
    out = io.BytesIO()
    image.convert("RGB").save(out, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return out.getvalue()


def _edge_band(alpha: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """Pixels within 1 px of a change in the true alpha."""
    padded = np.pad(alpha.astype(np.int16), 1, mode="edge")
    lo, hi = padded.copy()[1:-1, 1:-1], padded.copy()[1:-1, 1:-1]
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            window = padded[1 + dy : 1 + dy + alpha.shape[0], 1 + dx : 1 + dx + alpha.shape[1]]
            lo, hi = np.minimum(lo, window), np.maximum(hi, window)
    return hi > lo


def score(truth: Image.Image, cut: CutOut, key: RGB) -> dict[str, float]:
    """Compare the cut with the true alpha and colours."""
    true = np.asarray(truth)
    got = np.asarray(Image.open(io.BytesIO(cut.png)).convert("RGBA")).astype(np.float32)
    true_a, got_a = true[..., 3], got[..., 3] / 255.0
    edge = _edge_band(true_a)
    solid_edge = edge & (true_a >= 64) & (got[..., 3] > 0)
    toward = np.array(key, dtype=np.float32) - true[..., :3]
    toward /= np.maximum(np.linalg.norm(toward, axis=-1, keepdims=True), 1.0)
    lean = np.einsum("...c,...c->...", got[..., :3] - true[..., :3], toward)
    return {
        "background_cleared_pct": round(100 * float(np.mean(got_a[true_a == 0] <= 0.1)), 2),
        "subject_kept_pct": round(100 * float(np.mean(got_a[true_a == 255] >= 0.9)), 2),
        "edge_alpha_mae": round(float(np.mean(np.abs(got_a[edge] - true_a[edge] / 255.0))), 3),
        "edge_spill_levels": round(float(np.mean(lean[solid_edge])), 1),
    }


def _median_ms(work: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds of ``work``."""
    wall, cpu = [], []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        work()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    return round(statistics.median(wall), 1), round(statistics.median(cpu), 1)


def checkerboard(size: tuple[int, int], cell: int = 16) -> Image.Image:
    """A grey checkerboard to show transparency against."""
    y, x = np.indices((size[1], size[0]))
    grey = np.where((x // cell + y // cell) % 2, 200, 150).astype(np.uint8)
    return Image.fromarray(grey, "L").convert("RGBA")


def preview(model: bytes, cut: CutOut, path: Path) -> None:
    """Save the model output beside the cut on a checkerboard."""
    left = Image.open(io.BytesIO(model)).convert("RGBA")
    right = checkerboard(left.size)
    right.alpha_composite(Image.open(io.BytesIO(cut.png)).convert("RGBA"))
    both = Image.new("RGBA", (left.width * 2, left.height))
    both.paste(left, (0, 0))
    both.paste(right, (left.width, 0))
    both.resize((both.width // 2, both.height // 2)).save(path)


def run_case(
    name: str, truth: Image.Image, fmt: str, repeats: int, out_dir: Path | None
) -> dict[str, object]:
    """Measure one case in one output format."""
    source = io.BytesIO()
    truth.save(source, "PNG")
    key = choose_key_colour(source.getvalue())
    canvas = _canvas(truth)
    model = model_output(canvas, key, fmt)
    cut = cut_out(model, key)
    if out_dir:
        stem = name.split(" ", maxsplit=1)[0].replace(".", "_")
        preview(model, cut, out_dir / f"{stem}-{fmt.lower()}.png")
    wall, cpu = _median_ms(lambda: cut_out(model, key), repeats)
    return {
        "case": name,
        "key": key_colour_hex(key),
        "clearance": round(key_clearance(source.getvalue(), key), 1),
        "painted": key_colour_hex(cut.background) if cut.background else None,
        **score(canvas, cut, key),
        "cut_ms": wall,
        "cut_cpu_ms": cpu,
    }


HEADER = (
    "| case | key | clearance | painted | bg cleared % | subject kept % | edge MAE | spill"
    " | ms | CPU ms |"
)


def table(rows: list[dict[str, object]]) -> str:
    """The rows as a Markdown table."""
    lines = [HEADER, "|" + " --- |" * HEADER.count(" | ") + " --- |"]
    lines += ["| " + " | ".join(str(v) for v in row.values()) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    """Measure and print the figures: one table per output format."""
    parser = argparse.ArgumentParser(prog="python -m bench.cutout")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--formats", nargs="+", default=["JPEG", "PNG"])
    parser.add_argument("--preview", type=Path, help="save side-by-sides in this folder")
    parser.add_argument("--out", type=Path, help="also save the figures as JSON")
    args = parser.parse_args()
    results: dict[str, object] = {"machine": describe()}
    for fmt in args.formats:
        rows = [run_case(n, make(), fmt, args.repeats, args.preview) for n, make in CASES.items()]
        results[fmt] = rows
        print(f"\n{fmt} (painted key background{', quality 90' if fmt == 'JPEG' else ''})")
        print(table(rows))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
