"""Key colour choice and background cut-out (prefect_image_pipeline.steps.cutout) on small drawn images."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from prefect_image_pipeline.steps.cutout import cut_out
from prefect_image_pipeline.steps.key_colour import (
    KEY_CANDIDATES,
    choose_key_colour,
    key_clearance,
    key_colour_hex,
)

MAGENTA = (255, 0, 255)
GREEN = (0, 255, 0)
NAVY = (25, 35, 90)
SIDE = 256
SUPER = 4  # drawn at 4x then reduced: anti-aliased edges with a known alpha


def _png(image: Image.Image, fmt: str = "PNG", **options: int) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def _rgba(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA")).astype(int)


def _drawn(draw_on: Callable[[ImageDraw.ImageDraw, int], object]) -> Image.Image:
    """A transparent SIDE x SIDE RGBA image drawn by ``draw_on(draw, scale)`` at 4x."""
    big = Image.new("RGBA", (SIDE * SUPER, SIDE * SUPER), (0, 0, 0, 0))
    draw_on(ImageDraw.Draw(big), SUPER)
    return big.resize((SIDE, SIDE), Image.Resampling.BOX)


def _disc(colour: tuple[int, int, int] = NAVY) -> Image.Image:
    return _drawn(lambda d, s: d.ellipse((40 * s, 40 * s, 216 * s, 216 * s), fill=colour))


def _painted(key: tuple[int, int, int], noise: float = 0.0, seed: int = 0) -> Image.Image:
    """The key as a model paints it: off by a few levels, a gradient, a vignette, noise."""
    y, x = np.mgrid[0:SIDE, 0:SIDE] / SIDE - 0.5
    light = 10 * x - 30 * (x * x + y * y)
    rgb = np.array(key, float) + np.array([-7.0, 6.0, -5.0]) + light[..., None]
    rgb += np.random.default_rng(seed).normal(0, noise, rgb.shape)
    return Image.fromarray(np.clip(rgb, 0, 255).round().astype(np.uint8), "RGB").convert("RGBA")


def _on_key(
    truth: Image.Image, key: tuple[int, int, int], noise: float = 0.0, seed: int = 0
) -> Image.Image:
    image = _painted(key, noise, seed)
    image.alpha_composite(truth)
    return image.convert("RGB")


def test_key_colour_avoids_the_subjects_colours() -> None:
    magenta_logo = _drawn(
        lambda d, s: d.rectangle((20 * s, 60 * s, 236 * s, 196 * s), (230, 0, 200))
    )
    key = choose_key_colour(_png(magenta_logo))
    assert key != MAGENTA
    assert key_clearance(_png(magenta_logo), key) > 3 * key_clearance(_png(magenta_logo), MAGENTA)
    green_logo = _disc((30, 200, 60))
    assert choose_key_colour(_png(green_logo)) not in (GREEN, (0, 255, 255), (255, 255, 0))
    assert key_colour_hex(MAGENTA) == "#FF00FF"
    assert key_colour_hex((0, 128, 255)) == "#0080FF"


def test_hidden_colours_of_transparent_pixels_do_not_count() -> None:
    assert choose_key_colour(_png(_disc())) == GREEN  # navy: green is farthest
    # Transparent pixels that store green, which nobody sees, change nothing.
    pixels = np.asarray(_disc()).copy()
    pixels[pixels[..., 3] == 0] = (*GREEN, 0)
    assert choose_key_colour(_png(Image.fromarray(pixels, "RGBA"))) == GREEN
    empty = _png(Image.new("RGBA", (8, 8)))
    assert choose_key_colour(empty) == KEY_CANDIDATES[0]


def test_output_is_an_rgba_png_of_the_same_size() -> None:
    cut = cut_out(_png(_on_key(_disc(), MAGENTA)), MAGENTA)
    with Image.open(io.BytesIO(cut.png)) as image:
        assert (image.format, image.mode, image.size) == ("PNG", "RGBA", (SIDE, SIDE))
    assert cut.background_found
    # The colour painted (a few levels off, darker at the border), not the key asked for.
    assert cut.background is not None
    assert cut.background != MAGENTA
    assert np.abs(np.subtract(cut.background, (248, 6, 250))).max() < 20
    assert 0.4 < cut.transparent_share < 0.7
    assert 0 < cut.soft_share < 0.05


def test_subject_is_kept_and_background_cleared() -> None:
    truth = _disc()
    got = _rgba(cut_out(_png(_on_key(truth, MAGENTA)), MAGENTA).png)
    true_alpha = np.asarray(truth)[..., 3]
    assert (got[true_alpha == 0, 3] == 0).all()
    solid = true_alpha == 255
    assert (got[solid, 3] == 255).all()
    assert np.abs(got[solid, :3] - NAVY).max() <= 1


def test_holes_inside_letters_become_transparent() -> None:
    font = ImageFont.load_default(size=120 * SUPER)
    truth = _drawn(lambda d, s: d.text((10 * s, 60 * s), "O8", font=font, fill=NAVY))
    got = _rgba(cut_out(_png(_on_key(truth, GREEN)), GREEN).png)
    true_alpha = np.asarray(truth)[..., 3]
    # Key pixels enclosed by the letters are never connected to the border.
    assert (got[true_alpha == 0, 3] == 0).mean() == 1.0
    assert (got[true_alpha == 255, 3] >= 230).mean() > 0.99


def test_anti_aliased_edges_get_soft_alpha_close_to_the_truth() -> None:
    truth = _disc()
    got = _rgba(cut_out(_png(_on_key(truth, MAGENTA)), MAGENTA).png)
    true_alpha = np.asarray(truth)[..., 3].astype(int)
    edge = (true_alpha > 0) & (true_alpha < 255)
    assert edge.sum() > 300
    assert ((got[edge, 3] > 0) & (got[edge, 3] < 255)).mean() > 0.8
    assert np.abs(got[edge, 3] - true_alpha[edge]).mean() < 0.05 * 255


def test_edges_carry_no_key_spill() -> None:
    truth = _disc((200, 200, 200))  # light grey: any magenta tint shows as green dropping
    model = _on_key(truth, MAGENTA)
    got = _rgba(cut_out(_png(model), MAGENTA).png)
    true_alpha = np.asarray(truth)[..., 3]
    edge = (true_alpha >= 64) & (true_alpha < 255) & (got[..., 3] > 0)
    observed = np.asarray(model).astype(int)[edge]
    # The raw edge pixels are heavily tinted; the cut ones are the subject's grey again.
    assert np.abs(observed - 200).mean() > 30
    assert np.abs(got[edge, :3] - 200).mean() < 8
    assert (got[edge, 1] >= got[edge, 0] - 12).mean() > 0.95  # no magenta lean


def test_jpeg_noise_in_the_background_leaves_no_speckles() -> None:
    truth = _disc()
    model = _png(_on_key(truth, MAGENTA, noise=4.0), "JPEG", quality=70)
    got = _rgba(cut_out(model, MAGENTA).png)
    far = np.ones((SIDE, SIDE), bool)
    far[30:226, 30:226] = False  # 10 px clear of the disc's edge
    assert (got[far, 3] == 0).all()
    assert (got[70:186, 70:186, 3] == 255).all()


def test_heavy_jpeg_ringing_around_text_is_cleaned_up() -> None:
    font = ImageFont.load_default(size=60 * SUPER)
    truth = _drawn(lambda d, s: d.text((10 * s, 90 * s), "Wave", font=font, fill=(200, 40, 40)))
    away = np.asarray(truth)[..., 3] > 0
    for _ in range(4):  # more than 4 px from the letters
        away[1:] |= away[:-1].copy()
        away[:-1] |= away[1:].copy()
        away[:, 1:] |= away[:, :-1].copy()
        away[:, :-1] |= away[:, 1:].copy()
    for key in (MAGENTA, GREEN):
        for seed in range(2):
            model = _png(_on_key(truth, key, noise=8.0, seed=seed), "JPEG", quality=50)
            assert (_rgba(cut_out(model, key).png)[~away, 3] == 0).all()


def test_a_key_ish_area_enclosed_by_the_subject_stays_opaque() -> None:
    def draw(d: ImageDraw.ImageDraw, s: int) -> None:
        d.rectangle((40 * s, 40 * s, 216 * s, 216 * s), fill=NAVY)
        d.rectangle((80 * s, 80 * s, 120 * s, 120 * s), fill=(205, 45, 200))  # near magenta
        d.rectangle((140 * s, 140 * s, 180 * s, 180 * s), fill=MAGENTA)  # a hole: the key

    truth = _drawn(draw)
    got = _rgba(cut_out(_png(_on_key(truth, MAGENTA)), MAGENTA).png)
    assert (got[84:117, 84:117, 3] == 255).all()
    assert (got[144:177, 144:177, 3] == 0).all()


def test_no_key_coloured_border_is_flagged_and_the_image_left_alone() -> None:
    image = Image.new("RGB", (SIDE, SIDE), (240, 240, 235))
    image.paste(_disc(), (0, 0), _disc())
    cut = cut_out(_png(image), MAGENTA)
    assert not cut.background_found
    assert (cut.background, cut.transparent_share, cut.soft_share) == (None, 0.0, 0.0)
    got = _rgba(cut.png)
    assert (got[..., 3] == 255).all()
    assert (got[..., :3] == np.asarray(image)).all()


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_rgba_input_is_cut_and_keeps_its_own_transparency(fmt: str) -> None:
    image = _on_key(_disc(), GREEN).convert("RGBA")
    pixels = np.asarray(image).copy()
    pixels[:, :8, 3] = 0  # a strip that was already transparent
    data = _png(Image.fromarray(pixels, "RGBA"), fmt, lossless=1) if fmt == "WEBP" else None
    cut = cut_out(data or _png(Image.fromarray(pixels, "RGBA")), GREEN)
    got = _rgba(cut.png)
    assert cut.background_found
    assert (got[:, :8, 3] == 0).all()
    assert (got[128, 128, 3], got[5, 128, 3]) == (255, 0)


def test_a_soft_shadow_becomes_semi_transparent_black() -> None:
    truth = Image.new("RGBA", (SIDE, SIDE), (0, 0, 0, 0))
    shadow = Image.new("RGBA", (SIDE, SIDE), (0, 0, 0, 0))
    ImageDraw.Draw(shadow).rectangle((70, 70, 226, 226), (0, 0, 0, 140))
    truth.alpha_composite(shadow.filter(ImageFilter.GaussianBlur(10)))
    ImageDraw.Draw(truth).rectangle((40, 40, 200, 200), NAVY)
    got = _rgba(cut_out(_png(_on_key(truth, GREEN)), GREEN).png)
    true_alpha = np.asarray(truth)[..., 3].astype(int)
    shade = (true_alpha >= 40) & (true_alpha < 140)  # the shadow, away from the card
    assert shade.sum() > 2000
    assert np.abs(got[shade, 3] - true_alpha[shade]).mean() < 10
    assert got[shade, :3].max() < 40  # black, not green
