"""What to ask OpenAI for, checked before any paid call, and the exact request body it makes."""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields, replace
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, TypeAdapter, ValidationError

from prefect_image_pipeline.errors import InvalidOptionsError
from prefect_image_pipeline.options.capabilities import check_for_model, default_image_model
from prefect_image_pipeline.options.fields import Option, option, options_of
from prefect_image_pipeline.options.sdk import (
    TRANSPARENT_FORMATS,
    Action,
    Background,
    Complexity,
    Detail,
    ImageModel,
    InputFidelity,
    Moderation,
    OutputFormat,
    Quality,
    Size,
)
from prefect_image_pipeline.settings.config import (
    DEFAULT_BACKGROUND,
    DEFAULT_DETAIL,
    DEFAULT_MODEL,
    DEFAULT_OUTPUT_FORMAT,
    DEFAULT_PROMPT,
    DEFAULT_QUALITY,
)

# The fields the first release had: the fingerprint lists them positionally, as it did then.
_ORIGINAL_FIELDS = ("prompt", "model", "background", "quality")
# The endpoints that can generate (steps.generate, steps.images_api).
Api = Literal["responses", "images"]
APIS: tuple[str, ...] = get_args(Api)
Compression = Annotated[int, Field(ge=0, le=100)]


@dataclass(frozen=True)
class GenerationOptions:
    """What to ask OpenAI for (the cache key: identical options never pay twice)

    Each field is an option's one definition (options.fields): its flow parameter, flag,
    request field and docs row follow from it. Every field enters the fingerprint; the
    order is the fingerprint's, so new options go last.
    """

    prompt: str | None = option(
        None,
        "Prompt for OpenAI; empty uses the default recreation prompt.",
        flags=("-p", "--prompt"),
        per_image=True,
    )
    model: str = option(
        DEFAULT_MODEL,
        "OpenAI model with the image_generation tool.",
        flags=("-m", "--model"),
        per_image=True,
    )
    background: str = option(
        DEFAULT_BACKGROUND,
        "Background of the generated image.",
        annotation=Background,
        tool_field="background",
        edit_field="background",
        per_image=True,
    )
    quality: str = option(
        DEFAULT_QUALITY,
        "Image quality setting.",
        annotation=Quality,
        tool_field="quality",
        edit_field="quality",
        per_image=True,
    )
    image_model: str | None = option(
        None,
        "Image model of the image_generation tool; empty: OpenAI's default.",
        annotation=ImageModel,
        metavar="MODEL",
        tool_field="model",
        edit_field="model",  # always sent there: the default when not set (steps.images_api)
        per_image=True,
    )
    size: str | None = option(
        None,
        "auto or WIDTHxHEIGHT (multiples of 16, aspect 1:3 to 3:1); empty: OpenAI decides.",
        annotation=Size | None,
        tool_field="size",
        edit_field="size",
        per_image=True,
    )
    output_format: str = option(
        DEFAULT_OUTPUT_FORMAT,
        "Format of the generated image (png and webp keep transparency).",
        annotation=OutputFormat,
        tool_field="output_format",
        edit_field="output_format",
        per_image=True,
    )
    output_compression: int | None = option(
        None,
        "Compression 0-100 for webp and jpeg output; empty: OpenAI's default.",
        annotation=Compression | None,
        metavar="0-100",
        tool_field="output_compression",
        edit_field="output_compression",
        per_image=True,
    )
    input_fidelity: str | None = option(
        None,
        "How closely to keep the input's features (high or low); empty: default.",
        annotation=InputFidelity,
        tool_field="input_fidelity",
        edit_field="input_fidelity",
        per_image=True,
    )
    moderation: str | None = option(
        None,
        "Moderation level of the generated image; empty: OpenAI's default (auto).",
        annotation=Moderation | None,
        tool_field="moderation",
        per_image=True,
    )
    action: str | None = option(
        None,
        "generate, edit or auto; empty: OpenAI decides.",
        annotation=Action | None,
        tool_field="action",
        per_image=True,
    )
    detail: str = option(
        DEFAULT_DETAIL,
        "Detail level at which OpenAI reads the input images.",
        annotation=Detail,
        per_image=True,
    )
    # Opt-in: a model that refuses transparency gets one more try with an opaque background.
    fallback_background: bool = option(
        False,
        "If the image model cannot make transparency, make the image opaque instead of "
        "cutting the background out locally.",
        per_image=True,
    )
    # Which OpenAI endpoint generates: the Responses API's image tool, or the Images API
    # (steps.images_api). In the key only when not the default, as every late field.
    api: str = option(
        "responses",
        "OpenAI endpoint: responses (the image_generation tool, as the reference) or images "
        "(images.edit: no main model; no moderation or action); empty: responses, or images "
        "in batch mode.",
        annotation=Api | None,
        parameter_default=None,  # None: decided with batch_api (options.run)
    )
    # Planning effort of the image model, apart from quality (low, medium, high).
    complexity: str | None = option(
        None,
        "Planning effort of the image model (low, medium, high), apart from quality; "
        "empty: the model's default.",
        annotation=Complexity | None,
        tool_field="complexity",
        edit_field="complexity",
        per_image=True,
    )

    @property
    def effective_prompt(self) -> str:
        """The prompt sent: the user's, else the default recreation prompt."""
        return self.prompt if self.prompt and self.prompt.strip() else DEFAULT_PROMPT

    @property
    def resolved_image_model(self) -> str:
        """The image model the request runs on: the one asked for, else the tool's default."""
        return self.image_model or default_image_model()

    def model_notes(self) -> list[str]:
        """Refuse what the image model cannot take (options.capabilities); notes to show."""
        return check_for_model(
            self.resolved_image_model,
            self.quality,
            self.input_fidelity,
            self.size,
            self.output_format,
            self.api,
        )

    def fingerprint(self) -> list[Any]:
        """What changes the image, in a fixed order: the generation cache key and the
        reprocessing manifest both hash this, so they agree on what counts as "the same".

        Options added after the first release enter only when they differ from their
        defaults, so keys and manifests written before they existed still match.
        """
        parts: list[Any] = [self.effective_prompt, self.model, self.background, self.quality]
        added = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in _ORIGINAL_FIELDS and getattr(self, f.name) != f.default
        }
        return [*parts, added] if added else parts

    def check(self) -> GenerationOptions:
        """These options, refused before any call (naming the fix) when they cannot work."""
        size = self.size
        for each in options_of(GenerationOptions):
            value = getattr(self, each.name)
            if value is None:
                continue
            try:  # the flow parameter's own type: the SDK's choices, the size rule, bounds
                valid = _adapter(each.name).validate_python(value)
            except ValidationError as exc:
                raise InvalidOptionsError(_reason(each.name, exc)) from None
            size = valid if each.name == "size" else size
        checked = replace(self, size=size)  # the size as sent: "1024X1024" -> "1024x1024"
        checked._check_api()
        checked.model_notes()
        if self.background == "transparent" and self.output_format not in TRANSPARENT_FORMATS:
            raise InvalidOptionsError(
                f"A transparent background needs png or webp output, not {self.output_format}; "
                "use --output-format png or webp, or --background opaque"
            )
        if self.output_compression is not None:
            if self.output_format == "png":
                raise InvalidOptionsError(
                    "Output compression applies to webp and jpeg only; drop "
                    "--output-compression or use --output-format webp or jpeg"
                )
            if not 0 <= self.output_compression <= 100:
                raise InvalidOptionsError(
                    f"Output compression must be 0 to 100, got {self.output_compression}"
                )
        return checked

    def _check_api(self) -> None:
        if self.api not in APIS:
            raise InvalidOptionsError(f"api must be one of {', '.join(APIS)}, got {self.api!r}")
        if self.api != "images":
            return
        for lacking in images_api_lacks():
            if getattr(self, lacking.name) is not None:
                raise InvalidOptionsError(
                    f"The Images API has no {lacking.name} (the image_generation tool does): "
                    f"drop {lacking.flags[-1]}, or use --api responses"
                )

    def sent_as(self, kind: Literal["tool_field", "edit_field"]) -> dict[str, Any]:
        """The options set that the tool (or images.edit) has a field for, by that name."""
        sent: dict[str, Any] = {}
        for each in options_of(GenerationOptions):
            value = getattr(self, each.name)
            name = getattr(each.spec, kind)
            if name and value is not None:
                sent[name] = value
        return sent

    def tool(self) -> dict[str, Any]:
        """The image_generation tool as sent: ``type``, then every option set that has a
        tool field (background, quality and output_format always are)."""
        return {"type": "image_generation", **self.sent_as("tool_field")}


def images_api_lacks() -> list[Option]:
    """The tool's options images.edit has no parameter for (the SDK's ImageEditParams)."""
    return [
        each
        for each in options_of(GenerationOptions)
        if each.spec.tool_field and not each.spec.edit_field
    ]


def _sent_by(kind: Literal["tool_field", "edit_field"]) -> dict[str, str]:
    return {
        getattr(each.spec, kind): f"{each.flags[-1]} / {each.name}"
        for each in options_of(GenerationOptions)
        if getattr(each.spec, kind)
    }


# Each field of the SDK's image_generation tool and images.edit that we send, and what
# sends it (the rest are declined in options.sdk, each with its reason).
TOOL_FIELDS_MAPPED = {
    "type": "always image_generation",
    "input_image_mask": "--mask / mask",
    **_sent_by("tool_field"),
}
EDIT_FIELDS_MAPPED = {
    "image": "the input, then each --reference",
    "prompt": "--prompt / prompt",
    "mask": "--mask / mask",
    **_sent_by("edit_field"),
}


@functools.cache  # one per option, built on first use (pydantic compiles a validator)
def _adapter(name: str) -> TypeAdapter[Any]:
    (each,) = [o for o in options_of(GenerationOptions) if o.name == name]
    return TypeAdapter(each.annotation)


def _reason(name: str, exc: ValidationError) -> str:
    """Our own check's message (options.sdk), else pydantic's, naming the option."""
    error = exc.errors()[0]
    ours = error.get("ctx", {}).get("error")
    return str(ours) if ours is not None else f"{name}: {error['msg'].lower()}"
