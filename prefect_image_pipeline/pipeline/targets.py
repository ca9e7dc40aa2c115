"""What a run talks to: which generator, which store. The one place real and offline are chosen.

Flows resolve *targets* first: small, serialisable descriptions that can be task
parameters and cache-key material. Tasks then open the real client from a target, so no
secret ever travels as a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from prefect_image_pipeline.edges.openai.client import check_openai_key, openai_client
from prefect_image_pipeline.edges.s3.client import load_bucket_block, resolve_bucket_name, s3_client
from prefect_image_pipeline.settings.config import settings
from prefect_image_pipeline.spending.limits import BudgetedGenerator, SpendLimits
from prefect_image_pipeline.steps.generate import ImageGenerator, OpenAIImageGenerator
from prefect_image_pipeline.steps.images_api import ImagesAPIGenerator
from prefect_image_pipeline.steps.offline import OfflineImageGenerator
from prefect_image_pipeline.steps.transparency import TransparentOutput
from prefect_image_pipeline.steps.upload import LocalObjectStore, ObjectStore, S3ObjectStore

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class AnswerSource(Protocol):
    """Answers a request without calling OpenAI: batch mode hands one in (batch_api.answers)."""

    def open(self) -> ImageGenerator:
        """The generator that answers from this source."""
        ...


@dataclass(frozen=True)
class GeneratorTarget:
    """Which generator a run uses; ``offline`` needs no key."""

    kind: Literal["openai", "offline"] = "openai"
    credentials_block: str | None = None
    # Batch mode's collection: answer from the collected Batch API answers, never call
    # OpenAI (batch_api.answers). Not in any key: the answer is the same image.
    answers: AnswerSource | None = None
    # What the run may spend: each request to OpenAI reserves its cost first (spending).
    # Not in any key: a cap changes what is paid for, not the image.
    limits: SpendLimits | None = None

    @property
    def offline(self) -> bool:
        """Whether this is the local stand-in (no key, no cloud)."""
        return self.kind == "offline"

    def open(self, api: str = "responses") -> ImageGenerator:
        """The generator this target describes, on OpenAI's ``api`` (responses or images)."""
        if self.offline:
            return OfflineImageGenerator()
        return TransparentOutput(self._openai(api), try_native=self.answers is None)

    def _openai(self, api: str) -> ImageGenerator:
        if self.answers is not None:
            return self.answers.open()
        client = openai_client(self.credentials_block)
        paid: ImageGenerator = (
            ImagesAPIGenerator(client) if api == "images" else OpenAIImageGenerator(client)
        )
        return BudgetedGenerator(paid, self.limits) if self.limits else paid

    def check(self) -> None:
        """Fail before any work when the OpenAI key is missing."""
        if not self.offline:
            check_openai_key(self.credentials_block)


# The fields are part of the upload cache key (prefect_image_pipeline.cache.keys): renaming or
# adding one re-keys every upload, so change them only with a cache version bump.
@dataclass(frozen=True)
class StoreTarget:
    """Where a run publishes: an S3 bucket (plain or via a block) or a local directory."""

    kind: Literal["s3", "local"]
    bucket: str = ""
    region: str = ""
    prefix_root: str = ""  # an S3Bucket block's bucket_folder
    cloudfront_domain: str | None = None
    endpoint_url: str | None = None
    bucket_block: str | None = None
    local_root: str | None = None
    # Keyed only when set (cache.keys.upload_key), so adding it re-keyed nothing.
    public_base_url: str | None = None

    def key_prefix(self, s3_prefix: str) -> str:
        """The block's folder, if any, in front of the run's prefix."""
        return "/".join(p.strip("/") for p in (self.prefix_root, s3_prefix) if p.strip("/"))

    def s3_client(self) -> S3Client:
        """A shared S3 client with this target's credentials (its block's, else the chain)."""
        return s3_client(self, self.region, self.bucket_block)

    def open(self) -> ObjectStore:
        """The object store this target describes."""
        if self.kind == "local":
            return LocalObjectStore(Path(self.local_root or settings().local_store_root))
        return S3ObjectStore(
            self.s3_client(),
            bucket=self.bucket,
            region=self.region,
            cloudfront_domain=self.cloudfront_domain,
            public_base_url=self.public_base_url,
        )


def resolve_generator_target(
    offline: bool,
    credentials_block: str | None,
    limits: SpendLimits | None = None,
    *,
    calling: bool = True,
) -> GeneratorTarget:
    """The run's generator, checked (a missing key fails here, before any work); not
    ``calling`` (an estimate), no key is needed."""
    target = GeneratorTarget(
        kind="offline" if offline else "openai",
        credentials_block=credentials_block,
        limits=None if offline or limits is None or not limits.active else limits,
    )
    if calling:
        target.check()
    return target


def resolve_store_target(
    offline: bool = False, s3_bucket_block: str | None = None, publishing: bool = True
) -> StoreTarget:
    """Decide the destination once per run (this may call STS to auto-detect the bucket).

    Not ``publishing`` (an estimate), the bucket is not needed: no STS call, so an estimate
    of local files needs no AWS account."""
    config = settings()
    if offline:
        return StoreTarget(kind="local", local_root=str(config.local_store_root))
    if s3_bucket_block:
        block = load_bucket_block(s3_bucket_block)
        credentials = block.credentials
        return StoreTarget(
            kind="s3",
            bucket=block.bucket_name,
            region=getattr(credentials, "region_name", None) or config.aws_region,
            prefix_root=block.bucket_folder or "",
            cloudfront_domain=config.cloudfront_domain,
            public_base_url=config.public_base_url,
            endpoint_url=credentials.aws_client_parameters.endpoint_url or config.s3_endpoint_url,
            bucket_block=s3_bucket_block,
        )
    return StoreTarget(
        kind="s3",
        bucket=resolve_bucket_name() if publishing else config.artifacts_bucket or "",
        region=config.aws_region,
        cloudfront_domain=config.cloudfront_domain,
        public_base_url=config.public_base_url,
        endpoint_url=config.s3_endpoint_url,
    )
