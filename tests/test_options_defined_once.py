"""One definition per option: the flag, the flow parameter, the request and the key follow."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Literal

import pytest

from prefect_image_pipeline.cli.flags import add_option_flags, option_values
from prefect_image_pipeline.cli.main import build_parser
from prefect_image_pipeline.options.fields import option, options_of
from prefect_image_pipeline.options.generation import GenerationOptions
from prefect_image_pipeline.options.parameters import with_parameters
from prefect_image_pipeline.options.run import RunOptions, option_groups
from prefect_image_pipeline.process_image import process_image
from prefect_image_pipeline.process_images import process_images
from prefect_image_pipeline.reprocess_images import reprocess_images
from prefect_image_pipeline.settings.config import DEFAULT_PROMPT

EVERY_OPTION = [o for group in option_groups().values() for o in options_of(group)]


def _form(flow: Any) -> dict[str, dict[str, Any]]:
    return flow.parameters.model_dump()["properties"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("each", EVERY_OPTION, ids=lambda o: o.name)
def test_every_option_is_a_parameter_of_the_batch_flow_with_its_default(each: Any) -> None:
    form = _form(process_images)
    assert each.name in form
    assert form[each.name].get("default") == each.default


@pytest.mark.parametrize("each", [o for o in EVERY_OPTION if o.flags], ids=lambda o: o.name)
def test_every_flag_parses_to_its_option_with_the_same_default(each: Any) -> None:
    parser = build_parser()
    (action,) = [a for a in parser._actions if a.dest == each.name]
    assert list(action.option_strings) == list(each.flags)
    parsed = parser.parse_args([])
    assert getattr(parsed, each.name) == (
        each.default or (False if each.annotation is bool else None)
    )


def test_the_cli_hands_each_flow_exactly_the_options_it_takes() -> None:
    args = build_parser().parse_args(["--quality", "low", "--concurrency", "3", "--wait"])
    single = option_values(args, _form(process_image))
    assert single["quality"] == "low" and "concurrency" not in single
    batch = option_values(args, _form(process_images))
    assert batch["concurrency"] == 3 and batch["wait_for_batch"] is True
    assert set(option_values(args, _form(reprocess_images))) <= set(_form(reprocess_images))


def test_a_flag_outside_its_bounds_is_refused_by_argparse(capsys: Any) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--images-per-minute", "0"])
    assert "--images-per-minute" in capsys.readouterr().err


def test_run_options_round_trip_and_refuse_unknown_names() -> None:
    run = RunOptions.from_parameters({"quality": "low", "batch_api": True, "concurrency": 2})
    assert run.generation.api == "images"  # empty api in batch mode: images.edit
    assert RunOptions.from_parameters(run.to_parameters()) == run
    with pytest.raises(TypeError, match="qualty"):
        RunOptions.from_parameters({"qualty": "low"})


def test_the_fingerprint_keeps_the_first_release_shape() -> None:
    # Keys and manifests written before later options existed must still match.
    assert GenerationOptions().fingerprint() == [DEFAULT_PROMPT, "gpt-5", "transparent", "high"]
    late = GenerationOptions(size="1024x1024", complexity="low").fingerprint()
    assert late[-1] == {"size": "1024x1024", "complexity": "low"}


def test_a_tool_field_is_sent_when_set_and_only_then() -> None:
    assert "moderation" not in GenerationOptions().tool()
    assert GenerationOptions(moderation="low").tool()["moderation"] == "low"


@dataclass(frozen=True)
class _MadeUp:
    """A made-up option group (what a new maintainer writes)."""

    sharpness: Literal["soft", "crisp"] | None = option(
        None, "How crisp the edges are.", tool_field="sharpness"
    )


def test_a_new_definition_becomes_a_flag_and_a_described_parameter() -> None:
    parser = argparse.ArgumentParser()
    add_option_flags(parser, [_MadeUp])
    assert parser.parse_args(["--sharpness", "crisp"]).sharpness == "crisp"
    with pytest.raises(SystemExit):
        parser.parse_args(["--sharpness", "blurry"])

    @with_parameters(_MadeUp)
    def made_up_flow(**options: Any) -> None:
        """A flow with the made-up option."""

    assert "sharpness: How crisp the edges are." in (made_up_flow.__doc__ or "")
