"""The capability table and the price table against the installed openai SDK.

A newer SDK that lists another image model, names another default, reports another kind
of token or adds a request field fails here until someone has looked at it.
"""

from __future__ import annotations

from typing import get_type_hints

import pytest
from openai.types.image_edit_params import ImageEditParamsNonStreaming
from openai.types.images_response import Usage as ImagesUsage
from openai.types.responses.response import ToolUsageImageGen
from openai.types.responses.response_usage import ResponseUsage
from openai.types.responses.tool_param import ImageGeneration

from prefect_image_pipeline.errors import InvalidOptionsError
from prefect_image_pipeline.options.capabilities import (
    CAPABILITIES,
    ModelCapabilities,
    default_image_model,
)
from prefect_image_pipeline.options.generation import (
    EDIT_FIELDS_MAPPED,
    TOOL_FIELDS_MAPPED,
    GenerationOptions,
)
from prefect_image_pipeline.options.sdk import DECLINED, EDIT_DECLINED, REFUSED, sdk_values
from prefect_image_pipeline.pricing import KINDS, load_price_table
from tests.paths import DOCS

# Every token count the SDK reports, and the price kind (or the count it is part of)
# prefect_image_pipeline.steps.usage and prefect_image_pipeline.pricing bill it as.
TOKEN_KINDS = {
    "image_gen.input_tokens_details.text_tokens": "text_input",
    "image_gen.input_tokens_details.image_tokens": "image_input",
    "image_gen.cached_tokens_details.cached_text_tokens": "cached_text_input",
    "image_gen.cached_tokens_details.cached_image_tokens": "cached_image_input",
    "image_gen.output_tokens_details.image_tokens": "image_output",
    "image_gen.output_tokens_details.text_tokens": "text_output",
    "usage.input_tokens_details.cached_tokens": "cached_text_input",
    # Part of input_tokens, billed at the input price: OpenAI lists no write price.
    "usage.input_tokens_details.cache_write_tokens": "text_input",
    "usage.input_tokens_details.cache_write_tokens_details": "text_input",
    # Part of output_tokens, billed at the output price.
    "usage.output_tokens_details.reasoning_tokens": "text_output",
    "images.input_tokens_details.text_tokens": "text_input",
    "images.input_tokens_details.image_tokens": "image_input",
    "images.output_tokens_details.image_tokens": "image_output",
    "images.output_tokens_details.text_tokens": "text_output",
}


def _detail_fields(prefix: str, model: type) -> set[str]:
    found = set()
    for name, field in model.model_fields.items():  # type: ignore[attr-defined]
        if name.endswith("_details"):
            inner = field.annotation
            inner = next((a for a in getattr(inner, "__args__", (inner,)) if a is not None), inner)
            found |= {f"{prefix}.{name}.{sub}" for sub in inner.model_fields}
    return found


def _sdk_models() -> list[str]:
    return [m for m in sdk_values("image_model") if m not in REFUSED["image_model"]]


def test_every_token_kind_the_sdk_reports_has_a_price_kind() -> None:
    reported = (
        _detail_fields("image_gen", ToolUsageImageGen)
        | _detail_fields("usage", ResponseUsage)
        | _detail_fields("images", ImagesUsage)
    )
    assert reported == set(TOKEN_KINDS)
    assert set(TOKEN_KINDS.values()) <= set(KINDS)


@pytest.mark.parametrize("model", _sdk_models())
def test_every_sdk_model_is_described_and_priced_for_every_kind(model: str) -> None:
    table = load_price_table(None)
    assert model in CAPABILITIES
    row = CAPABILITIES[model]
    assert row.source and row.as_of
    for batch in (False, True):
        missing = [kind for kind in KINDS if table.price(model, kind, batch) is None]
        assert missing == [], (model, batch)


def test_the_sdk_default_is_in_both_tables() -> None:
    assert default_image_model() in _sdk_models()
    assert CAPABILITIES[default_image_model()].transparency == "no"
    assert load_price_table(None).price(default_image_model(), "image_output") == 30.0


def test_every_field_of_the_sdk_request_types_is_mapped_or_declined() -> None:
    tool_fields = set(get_type_hints(ImageGeneration))
    assert tool_fields == set(TOOL_FIELDS_MAPPED) | set(DECLINED)
    assert not set(TOOL_FIELDS_MAPPED) & set(DECLINED)
    edit_fields = set(get_type_hints(ImageEditParamsNonStreaming))
    assert edit_fields == set(EDIT_FIELDS_MAPPED) | set(EDIT_DECLINED)
    assert all(len(reason) > 20 for reason in EDIT_DECLINED.values())


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"image_model": "gpt-image-1.5", "quality": "xhigh"}, "quality 'xhigh'"),
        ({"quality": "max"}, "gpt-image-2.6-sunburst does not take quality 'max'"),
        ({"image_model": "gpt-image-2", "input_fidelity": "high"}, "takes no input_fidelity"),
        ({"image_model": "gpt-image-1-mini", "input_fidelity": "high"}, "low only"),
        ({"image_model": "gpt-image-1.5", "size": "1536x864"}, "not 1536x864"),
        ({"size": "1536x864"}, "gpt-image-2.6-sunburst takes only the sizes"),
    ],
)
def test_what_the_model_cannot_take_is_refused_naming_it(
    options: dict[str, str], named: str
) -> None:
    with pytest.raises(InvalidOptionsError, match=named) as caught:
        GenerationOptions(**options).check()  # type: ignore[arg-type]
    assert "use " in str(caught.value) or "drop " in str(caught.value)  # the fix


def test_what_the_model_takes_passes() -> None:
    GenerationOptions(image_model="gpt-image-2.5-sunburst", quality="max", size="1536x864").check()
    GenerationOptions(image_model="gpt-image-1.5", input_fidelity="high").check()
    GenerationOptions(image_model="gpt-image-1-mini", input_fidelity="low").check()
    assert GenerationOptions(complexity="low").check().model_notes() == []


def test_input_fidelity_where_openai_says_nothing_is_sent_with_a_note() -> None:
    (note,) = GenerationOptions(input_fidelity="high").check().model_notes()
    assert "sent to gpt-image-2.6-sunburst as asked" in note


def test_an_unknown_model_passes_with_a_note() -> None:
    options = GenerationOptions(image_model="gpt-image-9", quality="max").check()
    (note,) = options.model_notes()
    assert "'gpt-image-9' is not in our capability table" in note


def _fidelity(row: ModelCapabilities) -> str:
    if not row.input_fidelity:
        return "omit"
    listed = ", ".join(row.input_fidelity)
    return listed if row.fidelity_documented else f"{listed} (undocumented: sent, with a note)"


def test_the_models_page_shows_every_row_as_the_tables_say() -> None:
    page = (DOCS / "models.md").read_text()
    table = load_price_table(None)
    for model, row in CAPABILITIES.items():
        prices = " / ".join(
            f"${table.price(model, kind)}" for kind in ("text_input", "image_input", "image_output")
        )
        expected = (
            f"| `{model}` | {row.transparency} | "
            f"{_fidelity(row)} | "
            f"{', '.join(row.qualities)} | "
            f"{'any WIDTHxHEIGHT' if row.custom_sizes else 'standard + auto'} | {prices} |"
        )
        assert expected in page, expected
