"""The flows' parameters: one definition, flat in the UI form, described, validated."""

from __future__ import annotations

from typing import Any

import pytest
from prefect.exceptions import ParameterTypeError

from prefect_image_pipeline.options.parameters import DESCRIPTIONS
from prefect_image_pipeline.options.sdk import choices
from prefect_image_pipeline.process_image import process_image
from prefect_image_pipeline.process_images import process_images
from prefect_image_pipeline.reprocess_images import reprocess_images

FLOWS = [process_image, process_images, reprocess_images]


def _form(flow: Any) -> dict[str, dict[str, Any]]:
    return flow.parameters.model_dump()["properties"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("flow", FLOWS, ids=lambda f: f.name)
def test_every_parameter_has_its_description_in_the_form(flow: Any) -> None:
    form = _form(flow)
    assert {name: spec.get("description") for name, spec in form.items()} == {
        name: DESCRIPTIONS[name] for name in form
    }


def test_shared_parameters_are_the_same_in_every_flow() -> None:
    forms = [_form(flow) for flow in FLOWS]
    shared = set.intersection(*(set(form) for form in forms))
    assert {"prompt", "model", "quality", "background", "s3_bucket_block"} <= shared
    for name in shared:
        specs = [{k: v for k, v in form[name].items() if k != "position"} for form in forms]
        assert specs[0] == specs[1] == specs[2], name


def test_choices_and_defaults_reach_the_form() -> None:
    form = _form(process_image)
    assert form["quality"]["enum"] == list(choices("quality"))
    assert form["quality"]["default"] == "high"
    assert form["background"]["enum"] == list(choices("background"))
    assert process_images.parameters.model_dump()["required"] == ["images"]
    assert _form(process_images)["concurrency"]["maximum"] == 64


def test_a_bad_choice_is_refused_before_the_flow_body_runs(tmp_path: Any) -> None:
    missing = tmp_path / "never-read.png"
    with pytest.raises(ParameterTypeError, match="quality"):
        process_image(image=str(missing), quality="ultra", offline=True)
