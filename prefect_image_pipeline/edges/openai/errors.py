"""What an OpenAI error means for us: whether a retry may help, and what a person should do."""

from __future__ import annotations

import openai

from prefect_image_pipeline.errors import ImageGenerationError
from prefect_image_pipeline.pacing.cooldown import retry_after_seconds

TRANSPARENCY_REFUSED = "Transparent background is not supported"


def is_transparency_refusal(error: ImageGenerationError) -> bool:
    """Whether OpenAI refused only the transparent background (an opaque one may work)."""
    return error.status_code == 400 and str(error).startswith(TRANSPARENCY_REFUSED)


def translate_openai_error(
    exc: openai.APIError, model: str, image_model: str | None = None
) -> ImageGenerationError:
    """An ImageGenerationError that says whether to retry and what a person should do.

    ``model`` is the main model (or what was called); ``image_model`` the image model a
    refusal about the image is about.
    """
    if isinstance(exc, openai.APITimeoutError):
        return ImageGenerationError("OpenAI request timed out; will retry", transient=True)
    if isinstance(exc, openai.APIConnectionError):
        return ImageGenerationError("Could not reach OpenAI (connection error)", transient=True)
    if not isinstance(exc, openai.APIStatusError):
        return ImageGenerationError(f"Malformed response from OpenAI: {type(exc).__name__}")
    status, code, detail = exc.status_code, exc.code, _api_message(exc)

    def error(
        message: str, transient: bool = False, retry_after: float | None = None
    ) -> ImageGenerationError:
        return ImageGenerationError(
            message,
            transient=transient,
            retry_after=retry_after,
            status_code=status,
            code=code,
            request_id=exc.request_id,
        )

    if status == 429 and code == "insufficient_quota":
        return error("OpenAI quota exhausted (insufficient_quota); add credit or raise the limit")
    if status == 429:
        return error(
            f"OpenAI rate limit hit (429): {detail}",
            True,
            retry_after_seconds(exc.response.headers),
        )
    if status >= 500 or status in (408, 409):
        return error(f"OpenAI server error ({status})", transient=True)
    return error(_explain_client_error(status, code, detail, model, image_model))


def _explain_client_error(
    status: int, code: str | None, detail: str, model: str, image_model: str | None
) -> str:
    if status == 401:
        return "OpenAI rejected the API key (401); check OPENAI_API_KEY or the credentials block"
    if status == 403:
        return (
            f"OpenAI refused access (403): {detail}; check that OPENAI_API_KEY (or the "
            "credentials block) belongs to a project and organization that "
            "may use the image_generation tool"
        )
    if status == 404 and image_model and image_model in detail:
        return f"OpenAI image model not found (404): {image_model!r}; pass a valid --image-model"
    if status == 404:
        return f"OpenAI model not found (404): {model!r}; pass a valid --model"
    if code == "moderation_blocked":
        return (
            "OpenAI's safety system refused this request (moderation_blocked); "
            "change the prompt or the image"
        )
    if "transparent background" in detail.lower():
        return (
            f"{TRANSPARENCY_REFUSED} for image model {image_model or model!r}; use "
            "--background opaque or --background auto, or --fallback-background to retry "
            "opaque by itself"
        )
    return f"OpenAI rejected the request ({status}, {code or 'no code'}): {detail}"


def _api_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return str(exc.message)
