"""Every setting read from the environment, in one typed place: variable, type, default, meaning.

Settings are read on use (``settings()``), never frozen at import, so an operator or a test
can change a variable between runs. Blank counts as unset. A value that does not fit fails
with a ConfigurationError naming the variable and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from prefect_image_pipeline.errors import ConfigurationError
from prefect_image_pipeline.settings.messages import explain_invalid_setting

DEFAULT_PROMPT = "Recreate this image exactly as a high-resolution transparent PNG."
DEFAULT_MODEL = "gpt-5"
DEFAULT_BACKGROUND: Final = "transparent"
DEFAULT_QUALITY: Final = "high"
DEFAULT_OUTPUT_FORMAT: Final = "png"
# A recreation needs the full-resolution view of its input.
DEFAULT_DETAIL: Final = "high"
DEFAULT_S3_PREFIX = "generated-images"
DEFAULT_REGION = "us-east-1"
DEFAULT_DOWNLOAD_TIMEOUT = 30
BUCKET_NAME_TEMPLATE = "leadmagnet-artifacts-{account_id}"
DEFAULT_MAX_IMAGE_BYTES = 50 * 1024 * 1024
# Pillow warns at ~89 MP and refuses at twice that; a 50 MP image already needs ~200 MB of
# RAM as RGBA, which is as much as a small worker should spend on one input.
DEFAULT_MAX_IMAGE_PIXELS = 50_000_000


class Settings(BaseSettings):
    """The pipeline's environment variables (the reference's names, plus IMAGE_PIPELINE_*)."""

    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore", frozen=True)

    aws_region: str = Field(
        default=DEFAULT_REGION,
        validation_alias="AWS_REGION",
        description="AWS region (boto3 itself only reads AWS_DEFAULT_REGION).",
    )
    artifacts_bucket: str | None = Field(
        default=None,
        validation_alias="ARTIFACTS_BUCKET",
        description="Bucket to publish to; default leadmagnet-artifacts-{account_id} from STS.",
    )
    cloudfront_domain: str | None = Field(
        default=None,
        validation_alias="CLOUDFRONT_DOMAIN",
        description="CloudFront domain for public URLs, without scheme or trailing slash.",
    )
    cloudfront_distribution_id: str | None = Field(
        default=None,
        validation_alias="CLOUDFRONT_DISTRIBUTION_ID",
        description="CloudFront distribution to invalidate when a stable alias (--alias) changes.",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
        description="S3 endpoint override (MinIO, moto), as boto3 honours it natively.",
    )
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias="OPENAI_API_KEY", description="OpenAI API key."
    )
    openai_base_url: str | None = Field(
        default=None,
        validation_alias="OPENAI_BASE_URL",
        description="OpenAI API base URL (a proxy).",
    )
    openai_organization: str | None = Field(
        default=None, validation_alias="OPENAI_ORG_ID", description="OpenAI organization id."
    )
    openai_project: str | None = Field(
        default=None, validation_alias="OPENAI_PROJECT_ID", description="OpenAI project id."
    )
    aws_access_key_id: str | None = Field(
        default=None, validation_alias="AWS_ACCESS_KEY_ID", description="AWS access key id."
    )
    aws_secret_access_key: SecretStr | None = Field(
        default=None, validation_alias="AWS_SECRET_ACCESS_KEY", description="AWS secret access key."
    )
    aws_session_token: SecretStr | None = Field(
        default=None, validation_alias="AWS_SESSION_TOKEN", description="AWS session token."
    )
    openai_limit_name: str = Field(
        default="openai-image-generation",
        validation_alias="IMAGE_PIPELINE_OPENAI_LIMIT",
        description="Prefect global concurrency limit shared by every OpenAI request.",
    )
    openai_max_retries: int = Field(
        default=2,
        ge=0,
        validation_alias="IMAGE_PIPELINE_OPENAI_MAX_RETRIES",
        description="Retries the openai client makes itself before a task retry.",
    )
    openai_timeout_seconds: float = Field(
        default=600.0,
        gt=0,
        validation_alias="IMAGE_PIPELINE_OPENAI_TIMEOUT",
        description="Seconds one OpenAI request may take.",
    )
    task_retries: int = Field(
        default=3,
        ge=0,
        validation_alias="IMAGE_PIPELINE_TASK_RETRIES",
        description="Prefect retries of a load, generate or upload that failed transiently.",
    )
    retry_delay_seconds: float = Field(
        default=2.0,
        gt=0,
        validation_alias="IMAGE_PIPELINE_RETRY_DELAY_SECONDS",
        description="First task retry delay; each further retry doubles it.",
    )
    max_image_bytes: int = Field(
        default=DEFAULT_MAX_IMAGE_BYTES,
        gt=0,
        validation_alias="IMAGE_PIPELINE_MAX_IMAGE_BYTES",
        description="Largest accepted input file, in bytes.",
    )
    max_image_pixels: int = Field(
        default=DEFAULT_MAX_IMAGE_PIXELS,
        gt=0,
        validation_alias="IMAGE_PIPELINE_MAX_IMAGE_PIXELS",
        description="Most pixels (width x height) accepted, checked before decoding.",
    )
    local_store: Path = Field(
        default=Path("local-bucket"),
        validation_alias="IMAGE_PIPELINE_LOCAL_STORE",
        description="Where --offline publishes.",
    )
    image_url_allowed_hosts: str = Field(
        default="",
        validation_alias="IMAGE_URL_ALLOWED_HOSTS",
        description="Comma-separated hosts exempt from the public-address check.",
    )
    max_reference_bytes: int = Field(
        default=20 * 1024 * 1024,
        gt=0,
        validation_alias="IMAGE_PIPELINE_MAX_REFERENCE_BYTES",
        description="Most bytes of reference images inlined into one request, together.",
    )
    inline_url_patterns: str = Field(
        default="firebasestorage.googleapis.com,gencdn.ai,rendergfx.ai,wp-content,wordpress",
        validation_alias="IMAGE_PIPELINE_INLINE_URL_PATTERNS",
        description="Reference URLs containing any of these (comma-separated) are inlined.",
    )
    prices_file: Path | None = Field(
        default=None,
        validation_alias="IMAGE_PIPELINE_PRICES_FILE",
        description="JSON price table (USD per 1M tokens) overriding pricing/prices.json.",
    )
    server_port: int = Field(
        default=4300,
        ge=1024,
        le=65535,
        validation_alias="IMAGE_PIPELINE_SERVER_PORT",
        description=(
            "Port of the background Prefect server on 127.0.0.1 (not 4200: see deploy); "
            "when taken, the first free one of the 20 above it."
        ),
    )
    ephemeral_server: bool = Field(
        default=False,
        validation_alias="IMAGE_PIPELINE_EPHEMERAL_SERVER",
        description="1: a temporary Prefect server per run instead of the background one.",
    )
    server_start_timeout: float = Field(
        default=180.0,
        gt=0,
        validation_alias="IMAGE_PIPELINE_SERVER_START_TIMEOUT",
        description="Seconds the background server may take to start (a first start migrates).",
    )
    rate_limit_name: str = Field(
        default="openai-images-per-minute",
        validation_alias="IMAGE_PIPELINE_RATE_LIMIT",
        description="Prefect global concurrency limit whose limit is the fleet's images/minute.",
    )
    check_max_drift: int = Field(
        default=20,
        ge=0,
        le=64,
        validation_alias="IMAGE_PIPELINE_CHECK_MAX_DRIFT",
        description="Recreations whose pHash differs from the input's by more bits are flagged.",
    )
    check_min_transparent_share: float = Field(
        default=0.05,
        ge=0,
        le=1,
        validation_alias="IMAGE_PIPELINE_CHECK_MIN_TRANSPARENT_SHARE",
        description="Transparent share a transparent output of a plain-background input needs.",
    )
    check_min_detail: float = Field(
        default=2.0,
        ge=0,
        validation_alias="IMAGE_PIPELINE_CHECK_MIN_DETAIL",
        description="Colour spread (0-255) under which an output counts as blank.",
    )
    batch_poll_seconds: float = Field(
        default=60.0,
        gt=0,
        validation_alias="IMAGE_PIPELINE_BATCH_POLL_SECONDS",
        description="Seconds between two looks at a Batch API batch under --wait.",
    )
    cache_block: str | None = Field(
        default=None,
        validation_alias="IMAGE_PIPELINE_CACHE_BLOCK",
        description="S3Bucket block holding cache records every host shares (else local).",
    )
    cache_bucket: str | None = Field(
        default=None,
        validation_alias="IMAGE_PIPELINE_CACHE_BUCKET",
        description="Bucket python -m blocks saves as the image-cache block.",
    )
    cache_folder: str = Field(
        default="cache",
        validation_alias="IMAGE_PIPELINE_CACHE_FOLDER",
        description="Folder of the cache bucket that holds the records and images.",
    )
    lock_url: SecretStr | None = Field(
        default=None,
        validation_alias="IMAGE_PIPELINE_LOCK_URL",
        description="redis://host:port/db: locks shared by every host (else per host).",
    )
    callback_secret: SecretStr | None = Field(
        default=None,
        validation_alias="IMAGE_PIPELINE_CALLBACK_SECRET",
        description="Key signing every --callback-url POST (HMAC-SHA256); unset: unsigned.",
    )
    lock_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        validation_alias="IMAGE_PIPELINE_LOCK_LEASE_SECONDS",
        description="How long a dead holder's Redis lock lasts (live holders renew it).",
    )
    daily_budget_usd: float | None = Field(
        default=None,
        gt=0,
        validation_alias="IMAGE_PIPELINE_DAILY_BUDGET_USD",
        description="US dollars every host together may spend on OpenAI per UTC day.",
    )
    budget_name: str = Field(
        default="fleet",
        min_length=1,
        validation_alias="IMAGE_PIPELINE_BUDGET_NAME",
        description="Whose daily budget: fleets sharing one Redis keep one each by name.",
    )
    public_base_url: str | None = Field(
        default=None,
        validation_alias="IMAGE_PIPELINE_PUBLIC_BASE_URL",
        description="Public URLs become {base}/{key} (MinIO, R2); wins over CLOUDFRONT_DOMAIN.",
    )
    warm: bool = Field(
        default=True,
        validation_alias="IMAGE_PIPELINE_WARM",
        # cli.warm.client reads it raw: it decides before anything (this module) imports.
        description="0: no warm process for the next process-image run (cli.warm).",
    )
    ca_bundle: str | None = Field(
        default=None,
        validation_alias=AliasChoices("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"),
        description="CA bundle for image downloads (a private CA).",
    )

    @field_validator("cloudfront_domain")
    @classmethod
    def _bare_domain(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return value.strip().removeprefix("https://").removeprefix("http://").rstrip("/") or None

    @field_validator("max_image_bytes", "max_image_pixels", "max_reference_bytes", mode="before")
    @classmethod
    def _allow_digit_groups(cls, value: Any) -> Any:
        # 50_000_000 reads better than 50000000 in an environment file.
        return value.replace("_", "") if isinstance(value, str) else value

    @field_validator("public_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return value.strip().rstrip("/") or None if value is not None else None

    @field_validator(
        "aws_region",
        "artifacts_bucket",
        "openai_limit_name",
        "s3_endpoint_url",
        "cache_block",
        "cache_bucket",
    )
    @classmethod
    def _stripped(cls, value: str | None) -> str | None:
        return value.strip() if value is not None else None

    @property
    def local_store_root(self) -> Path:
        """The offline store as an absolute path."""
        return self.local_store.expanduser().resolve()

    @property
    def inline_url_markers(self) -> tuple[str, ...]:
        """IMAGE_PIPELINE_INLINE_URL_PATTERNS split at commas, lower-cased."""
        parts = self.inline_url_patterns.split(",")
        return tuple(p.strip().lower() for p in parts if p.strip())

    @property
    def allowed_hosts(self) -> tuple[str, ...]:
        """IMAGE_URL_ALLOWED_HOSTS split at commas (edges.http.url_policy normalises them)."""
        return tuple(p.strip() for p in self.image_url_allowed_hosts.split(",") if p.strip())


def settings() -> Settings:
    """The current settings; raises ConfigurationError naming a variable that does not fit."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigurationError(explain_invalid_setting(exc, Settings.model_fields)) from None
