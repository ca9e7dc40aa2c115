"""Each output check against images that pass it and images that fail it."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

from prefect_image_pipeline.checks.output_checks import OutputChecks, Thresholds, run_checks
from prefect_image_pipeline.options.generation import GenerationOptions
from tests.images import logo

LIMITS = Thresholds()


def _png(image: Image.Image, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def _cut_out(source: bytes, size: tuple[int, int] = (1024, 1024)) -> bytes:
    """What a good recreation looks like: the input, upscaled, its white made transparent."""
    image = Image.open(io.BytesIO(source)).convert("RGBA").resize(size)
    white = image.convert("L").point(lambda v: 255 if v > 240 else 0)
    image.putalpha(white.point(lambda v: 255 - v))
    return _png(image)


def _result(checks: OutputChecks, name: str) -> bool:
    (result,) = [r for r in checks.results if r.name == name]
    return result.passed


def test_a_faithful_transparent_recreation_passes_every_check() -> None:
    source = logo()
    checks = run_checks(source, _cut_out(source), GenerationOptions(), LIMITS)
    assert checks.flags == [], checks.describe()
    assert [r.name for r in checks.results] == [
        "format",
        "size",
        "not_blank",
        "transparency",
        "similarity",
    ]
    assert checks.drift is not None and checks.drift <= LIMITS.max_drift


def test_transparent_asked_but_opaque_returned_is_flagged() -> None:
    source = logo()
    opaque = _png(Image.open(io.BytesIO(source)).convert("RGB").resize((1024, 1024)))
    checks = run_checks(source, opaque, GenerationOptions(), LIMITS)
    assert checks.flags == ["transparency"]
    assert "0% of pixels transparent" in checks.describe()
    # Asked opaque, the same image passes: there is no transparency check.
    assert run_checks(source, opaque, GenerationOptions(background="opaque"), LIMITS).flags == []


def test_a_wrong_format_or_size_is_flagged() -> None:
    source = logo()
    good = _cut_out(source, (1024, 1536))
    as_webp = _png(Image.open(io.BytesIO(good)), "WEBP")
    assert run_checks(source, as_webp, GenerationOptions(), LIMITS).flags == ["format"]
    assert run_checks(source, good, GenerationOptions(output_format="webp"), LIMITS).flags == [
        "format"
    ]
    sized = GenerationOptions(size="1024x1024")
    assert run_checks(source, good, sized, LIMITS).flags == ["size"]
    assert run_checks(source, good, GenerationOptions(size="1024x1536"), LIMITS).flags == []
    # ``auto``: any size OpenAI can make passes; one it cannot (not multiples of 16) does not.
    odd = _cut_out(source, (1000, 1000))
    assert run_checks(source, odd, GenerationOptions(size="auto"), LIMITS).flags == ["size"]


def test_a_blank_output_is_flagged() -> None:
    blank = _png(Image.new("RGBA", (1024, 1024), (255, 255, 255, 0)))
    checks = run_checks(logo(), blank, GenerationOptions(), LIMITS)
    assert "not_blank" in checks.flags


def test_a_drifted_recreation_is_flagged_unless_the_prompt_restyles_on_purpose() -> None:
    source = logo()
    other = Image.new("RGBA", (1024, 1024), (0, 0, 0, 0))
    draw = ImageDraw.Draw(other)
    for n in range(0, 1024, 128):  # stripes: nothing like a box with a dot
        draw.rectangle((n, 0, n + 63, 1023), fill=(200, 40, 40, 255))
    drifted = _png(other)
    checks = run_checks(source, drifted, GenerationOptions(), LIMITS)
    assert checks.flags == ["similarity"], checks.describe()
    assert checks.drift is not None and checks.drift > LIMITS.max_drift
    restyled = run_checks(source, drifted, GenerationOptions(prompt="Make it stripes"), LIMITS)
    assert restyled.flags == [] and restyled.drift is None
    lenient = Thresholds(max_drift=64)
    assert run_checks(source, drifted, GenerationOptions(), lenient).flags == []
