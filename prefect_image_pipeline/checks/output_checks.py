"""Checks on every output, recorded with its outcome: they flag, they do not fail.

Each check compares what came back with what was asked: the bytes are the requested
format; the size is the requested one (or one OpenAI can make, for ``auto``); a
transparent background was asked for and the image has transparent pixels (a substantial
share of them when the input's background was uniform); the image is not blank; and,
for the default recreation prompt only, the output still looks like its input (a
perceptual-hash distance, imagehash's pHash on the two images). A restyling prompt
drifts on purpose, so it is never flagged for it. Thresholds: prefect_image_pipeline.settings.config
(IMAGE_PIPELINE_CHECK_*), documented in docs/review.md. ``--strict-checks`` turns a flag
into a failure (prefect_image_pipeline.pipeline.run).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageStat
from pydantic import BaseModel

from prefect_image_pipeline.formats import sniff_mime_type
from prefect_image_pipeline.options.generation import GenerationOptions
from prefect_image_pipeline.options.sdk import check_size

_FORMATS = {"png": "image/png", "webp": "image/webp", "jpeg": "image/jpeg"}
_THUMB = (64, 64)  # what the colour and border measures look at
_TRANSPARENT_ALPHA = 16  # alpha at or under this counts as transparent
_WORKING_EDGE = 256


@dataclass(frozen=True)
class Thresholds:
    """When a check flags (settings.config reads them from the environment)."""

    max_drift: int = 20  # pHash bits of 64 that may differ from the input
    min_transparent_share: float = 0.05  # with a uniform input background
    min_detail: float = 2.0  # standard deviation of a 64 px thumbnail, 0-255


def configured_thresholds() -> Thresholds:
    """The thresholds IMAGE_PIPELINE_CHECK_* set now."""
    from prefect_image_pipeline.settings.config import settings

    config = settings()
    return Thresholds(
        max_drift=config.check_max_drift,
        min_transparent_share=config.check_min_transparent_share,
        min_detail=config.check_min_detail,
    )


class CheckResult(BaseModel):
    """One check: passed or not, and what it saw."""

    name: str
    passed: bool
    detail: str


class OutputChecks(BaseModel):
    """Every check of one output; ``flags`` names the ones that did not pass."""

    results: list[CheckResult]
    drift: int | None = None  # pHash distance to the input, when measured

    @property
    def flags(self) -> list[str]:
        """Names of the checks that flagged the output."""
        return [result.name for result in self.results if not result.passed]

    def describe(self) -> str:
        """One line: ``ok`` or each flag with what it saw."""
        failed = [f"{r.name}: {r.detail}" for r in self.results if not r.passed]
        return "; ".join(failed) if failed else "ok"


def run_checks(
    source: bytes, output: bytes, options: GenerationOptions, limits: Thresholds
) -> OutputChecks:
    """Check ``output`` (what OpenAI returned) against ``source`` and what was asked."""
    return check_images(decode(source), decode(output), output, options, limits)


def decode(data: bytes) -> Image.Image:
    """The image in ``data``, decoded once for every check and thumbnail."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def check_images(
    original: Image.Image,
    result: Image.Image,
    output: bytes,
    options: GenerationOptions,
    limits: Thresholds,
) -> OutputChecks:
    """``run_checks`` on images already decoded (``output``: the result's bytes)."""
    size = result.size
    # Every measure below looks at 64 px or 32 px; a 256 px copy makes them cheap.
    original, result = _small(original), _small(result)
    results = [
        _format(output, options.output_format),
        _size(size, options.size),
        _not_blank(result, limits),
    ]
    if options.background == "transparent":
        results.append(_transparency(original, result, limits))
    drift = None
    if not (options.prompt and options.prompt.strip()):  # only the recreation prompt
        drift = _drift(original, result)
        results.append(
            CheckResult(
                name="similarity",
                passed=drift <= limits.max_drift,
                detail=f"{drift} of 64 hash bits differ from the input "
                f"(at most {limits.max_drift})",
            )
        )
    return OutputChecks(results=results, drift=drift)


def _small(image: Image.Image) -> Image.Image:
    copy = image.copy()
    copy.thumbnail((_WORKING_EDGE, _WORKING_EDGE), Image.Resampling.BILINEAR)
    return copy


def _format(output: bytes, requested: str) -> CheckResult:
    found = sniff_mime_type(output) or "unknown"
    wanted = _FORMATS.get(requested, f"image/{requested}")
    return CheckResult(name="format", passed=found == wanted, detail=f"{found}, asked {wanted}")


def _size(size: tuple[int, int], requested: str | None) -> CheckResult:
    shown = f"{size[0]}x{size[1]}"
    if requested and requested != "auto":
        return CheckResult(
            name="size", passed=shown == requested, detail=f"{shown}, asked {requested}"
        )
    try:
        check_size(shown)
    except ValueError as exc:
        return CheckResult(name="size", passed=False, detail=f"{shown}: {exc}")
    return CheckResult(name="size", passed=True, detail=f"{shown}, a size OpenAI makes")


def _not_blank(image: Image.Image, limits: Thresholds) -> CheckResult:
    thumb = image.convert("RGB").resize(_THUMB)
    spread = max(ImageStat.Stat(thumb).stddev)
    return CheckResult(
        name="not_blank",
        passed=spread >= limits.min_detail,
        detail=f"colour spread {spread:.1f} (at least {limits.min_detail})",
    )


def _transparent_share(image: Image.Image) -> float:
    if "A" not in image.getbands() and "transparency" not in image.info:
        return 0.0
    alpha = image.convert("RGBA").getchannel("A").resize(_THUMB)
    histogram = alpha.histogram()
    return sum(histogram[: _TRANSPARENT_ALPHA + 1]) / (_THUMB[0] * _THUMB[1])


def _uniform_border(image: Image.Image) -> bool:
    """Whether the input's edge pixels are (nearly) one colour: a background to remove."""
    thumb = image.convert("RGB").resize(_THUMB)
    width, height = thumb.size
    edge = [thumb.getpixel((x, y)) for x in range(width) for y in (0, height - 1)]
    edge += [thumb.getpixel((x, y)) for y in range(height) for x in (0, width - 1)]
    strip = Image.new("RGB", (len(edge), 1))
    strip.putdata(edge)  # type: ignore[arg-type]
    return max(ImageStat.Stat(strip).stddev) < 8.0


def _transparency(original: Image.Image, result: Image.Image, limits: Thresholds) -> CheckResult:
    share = _transparent_share(result)
    needed = limits.min_transparent_share if _uniform_border(original) else 1e-9
    return CheckResult(
        name="transparency",
        passed=share >= needed,
        detail=f"{share:.0%} of pixels transparent, asked a transparent background",
    )


def _drift(original: Image.Image, result: Image.Image) -> int:
    import imagehash  # numpy and scipy: only where a similarity is measured

    # Compare on white: a transparent background must not count as a change of content.
    return int(imagehash.phash(_on_white(original)) - imagehash.phash(_on_white(result)))


def _on_white(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(canvas, rgba).convert("RGB")
