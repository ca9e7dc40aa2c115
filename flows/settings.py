"""Configuration read from the environment, with the reference's names and defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

Background = Literal["transparent", "opaque", "auto"]
Quality = Literal["low", "medium", "high", "auto"]

DEFAULT_PROMPT = "Recreate this image exactly as a high-resolution transparent PNG."
DEFAULT_MODEL = "gpt-5"
DEFAULT_BACKGROUND: Final[Background] = "transparent"
DEFAULT_QUALITY: Final[Quality] = "high"
DEFAULT_S3_PREFIX = "generated-images"
DEFAULT_REGION = "us-east-1"
DEFAULT_DOWNLOAD_TIMEOUT = 30
BUCKET_NAME_TEMPLATE = "leadmagnet-artifacts-{account_id}"


def env(name: str) -> str | None:
    """The variable's value, or None when unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or None


def aws_region() -> str:
    """AWS_REGION, else us-east-1 (boto3 itself only reads AWS_DEFAULT_REGION)."""
    return env("AWS_REGION") or DEFAULT_REGION


def cloudfront_domain() -> str | None:
    """CLOUDFRONT_DOMAIN without scheme or trailing slash, if set."""
    domain = env("CLOUDFRONT_DOMAIN")
    if domain is None:
        return None
    return domain.removeprefix("https://").removeprefix("http://").rstrip("/")


def openai_limit_name() -> str:
    """Prefect global concurrency limit shared by all OpenAI calls (create it with prefect gcl)."""
    return env("IMAGE_PIPELINE_OPENAI_LIMIT") or "openai-image-generation"


def local_store_root() -> Path:
    """Where --offline publishes: IMAGE_PIPELINE_LOCAL_STORE, else ./local-bucket."""
    return Path(env("IMAGE_PIPELINE_LOCAL_STORE") or "local-bucket").expanduser().resolve()


@dataclass(frozen=True)
class RetrySettings:
    """How Prefect retries transient failures, on top of the openai client's own retries."""

    task_retries: int = 3
    base_delay_seconds: float = 2.0
    jitter_factor: float = 0.5
    openai_max_retries: int = 2
    openai_timeout_seconds: float = 600.0

    @classmethod
    def from_env(cls) -> RetrySettings:
        """Defaults, overridden by IMAGE_PIPELINE_* variables (tests shorten the delays)."""
        default = cls()
        return cls(
            task_retries=int(env("IMAGE_PIPELINE_TASK_RETRIES") or default.task_retries),
            base_delay_seconds=float(
                env("IMAGE_PIPELINE_RETRY_DELAY_SECONDS") or default.base_delay_seconds
            ),
            jitter_factor=default.jitter_factor,
            openai_max_retries=int(
                env("IMAGE_PIPELINE_OPENAI_MAX_RETRIES") or default.openai_max_retries
            ),
            openai_timeout_seconds=float(
                env("IMAGE_PIPELINE_OPENAI_TIMEOUT") or default.openai_timeout_seconds
            ),
        )

    def delays(self) -> list[float]:
        """Exponential backoff: base, 2*base, 4*base, ... one per retry."""
        return [self.base_delay_seconds * 2**n for n in range(max(self.task_retries, 1))]
