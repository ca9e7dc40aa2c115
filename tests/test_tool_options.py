"""Every value the openai SDK lists for an image tool option is either supported or refused."""

from __future__ import annotations

import pytest

from prefect_image_pipeline.options.sdk import (
    REFUSED,
    check_choice,
    check_image_model,
    check_size,
    choices,
    sdk_values,
)

# The values someone has looked at, per option. A new SDK release that adds a value fails
# here until it is classified: supported as is, or refused in prefect_image_pipeline/options/sdk.py.
REVIEWED = {
    "quality": {"low", "medium", "high", "xhigh", "max", "auto"},
    "background": {"transparent", "opaque", "auto"},
    "output_format": {"png", "webp", "jpeg", "gif", "svg"},
    "moderation": {"auto", "low"},
    "input_fidelity": {"high", "low"},
    "action": {"generate", "edit", "auto"},
    "detail": {"low", "high", "auto", "original"},
    "complexity": {"low", "medium", "high"},
    "size": {"1024x1024", "1024x1536", "1536x1024", "auto"},
    "image_model": {
        "gpt-image-1",
        "gpt-image-1-mini",
        "gpt-image-1.5",
        "gpt-image-2",
        "gpt-image-2-2026-04-21",
        "gpt-image-2.5-sunburst",
        "gpt-image-2.5-sunburst-2026-09-08",
        "gpt-image-2.5-flare",
        "gpt-image-2.5-flare-2026-09-08",
        "gpt-image-2.6-sunburst",
        "gpt-image-2.6-flare",
        "chatgpt-image-latest",
    },
}


@pytest.mark.parametrize("option", sorted(REVIEWED))
def test_every_sdk_value_has_been_classified(option: str) -> None:
    assert set(sdk_values(option)) == REVIEWED[option]


def test_refused_values_are_ones_the_sdk_lists_and_say_why() -> None:
    for option, refused in REFUSED.items():
        assert set(refused) <= set(sdk_values(option)), option
        for value in refused:
            assert value not in choices(option)
    with pytest.raises(ValueError, match=r"gif.*not supported yet"):
        check_choice("output_format", "gif")
    with pytest.raises(ValueError, match="shut down"):
        check_image_model("gpt-image-1")
    assert check_image_model("gpt-image-9-preview") == "gpt-image-9-preview"  # newer than the SDK
    assert check_image_model("  ") is None


def test_unknown_values_name_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="quality must be one of low, medium, high, xhigh"):
        check_choice("quality", "ultra")


@pytest.mark.parametrize(
    ("size", "problem"),
    [
        ("big", "auto or WIDTHxHEIGHT"),
        ("1000x1000", "multiples of 16"),
        ("4096x1024", "between 1:3 and 3:1"),
        ("4800x3840", "at most 3840"),
    ],
)
def test_sizes_openai_cannot_make_are_refused(size: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        check_size(size)


def test_standard_and_custom_sizes_pass() -> None:
    assert check_size("auto") == "auto"
    assert check_size("1536x864") == "1536x864"
    assert check_size(" 1024X1536 ") == "1024x1536"
