"""What to ask OpenAI for, checked before any paid call, and the exact request body it makes."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Literal, get_args

from prefect_image_pipeline.errors import InvalidOptionsError
from prefect_image_pipeline.options.capabilities import DEFAULT_IMAGE_MODEL, check_for_model
from prefect_image_pipeline.options.sdk import (
    TRANSPARENT_FORMATS,
    check_choice,
    check_image_model,
    check_size,
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
# Tool options images.edit has no parameter for (the SDK's ImageEditParams), and their flags.
IMAGES_API_LACKS = {"moderation": "--moderation", "action": "--action"}
# Options sent as image_generation tool fields only when set: ours -> the tool's name.
_OPTIONAL_TOOL_FIELDS = {
    "image_model": "model",
    "size": "size",
    "output_compression": "output_compression",
    "input_fidelity": "input_fidelity",
    "moderation": "moderation",
    "action": "action",
    "complexity": "complexity",
}


@dataclass(frozen=True)
class GenerationOptions:
    """What to ask for; part of the cache key, so identical options never pay twice."""

    prompt: str | None = None
    model: str = DEFAULT_MODEL
    background: str = DEFAULT_BACKGROUND
    quality: str = DEFAULT_QUALITY
    image_model: str | None = None  # None: OpenAI's default image model
    size: str | None = None  # None: not sent, OpenAI decides (auto)
    output_format: str = DEFAULT_OUTPUT_FORMAT
    output_compression: int | None = None
    input_fidelity: str | None = None
    moderation: str | None = None
    action: str | None = None
    detail: str = DEFAULT_DETAIL
    # Opt-in: a model that refuses transparency gets one more try with an opaque background.
    fallback_background: bool = False
    # Which OpenAI endpoint generates: the Responses API's image tool, or the Images API
    # (steps.images_api). In the key only when not the default, as every late field.
    api: str = "responses"
    # Planning effort of the image model, apart from quality (low, medium, high).
    complexity: str | None = None

    @property
    def effective_prompt(self) -> str:
        """The prompt sent: the user's, else the default recreation prompt."""
        return self.prompt if self.prompt and self.prompt.strip() else DEFAULT_PROMPT

    @property
    def resolved_image_model(self) -> str:
        """The image model the request runs on: the one asked for, else the tool's default."""
        return self.image_model or DEFAULT_IMAGE_MODEL

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
        try:
            for option in ("background", "quality", "output_format", "detail"):
                check_choice(option, getattr(self, option))
            for option in ("input_fidelity", "moderation", "action", "complexity"):
                if getattr(self, option) is not None:
                    check_choice(option, getattr(self, option))
            check_image_model(self.image_model)
            size = None if self.size is None else check_size(self.size)
        except ValueError as exc:
            raise InvalidOptionsError(str(exc)) from None
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
        for option, flag in IMAGES_API_LACKS.items():
            if getattr(self, option) is not None:
                raise InvalidOptionsError(
                    f"The Images API has no {option} (the image_generation tool does): drop "
                    f"{flag}, or use --api responses"
                )

    def tool(self) -> dict[str, Any]:
        """The image_generation tool as sent: the fields we always set, then the ones set."""
        tool: dict[str, Any] = {
            "type": "image_generation",
            "background": self.background,
            "quality": self.quality,
            "output_format": self.output_format,
        }
        for ours, theirs in _OPTIONAL_TOOL_FIELDS.items():
            value = getattr(self, ours)
            if value is not None:
                tool[theirs] = value
        return tool
