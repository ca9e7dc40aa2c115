"""Build the pipeline's edges (OpenAI client, generator, object store) from blocks or env.

Flows resolve *targets* first: small, serialisable descriptions that can be task
parameters and cache-key material. Tasks then open the real client from a target,
so no secret ever travels as a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import openai
from prefect.context import FlowRunContext

from blocks.openai_credentials import OpenAICredentials
from flows.aws import endpoint_url, resolve_bucket_name, s3_client_from_env
from flows.backoff import GatedTransport
from flows.client_cache import ClientCache
from flows.errors import MissingCredentialsError
from flows.generate import ImageGenerator, OpenAIImageGenerator
from flows.offline import OfflineImageGenerator
from flows.openai_http import veto_hopeless_retries
from flows.settings import (
    RetrySettings,
    aws_region,
    cloudfront_domain,
    env,
    local_store_root,
)
from flows.storage import LocalObjectStore, ObjectStore, S3ObjectStore

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from prefect_aws import S3Bucket

MISSING_KEY_MESSAGE = (
    "OPENAI_API_KEY is not set: export OPENAI_API_KEY=sk-..., save an OpenAI credentials "
    "block (python -m blocks) and pass its name, or use --offline for a local dry run"
)


def _client_options() -> dict[str, Any]:
    retry = RetrySettings.from_env()
    return {
        "max_retries": retry.openai_max_retries,
        "timeout": retry.openai_timeout_seconds,
        # Every request and client-side retry passes the process-wide 429 cooldown.
        "http_client": openai.DefaultHttpxClient(
            transport=GatedTransport(),
            # insufficient_quota is a 429 the client would retry; it never clears by itself.
            event_hooks={"response": [veto_hopeless_retries]},
        ),
    }


_OPENAI_CLIENTS: ClientCache[openai.OpenAI] = ClientCache()
_S3_CLIENTS: ClientCache[S3Client] = ClientCache()
# What the openai client and boto3 read from the environment themselves: a change to any
# of them must give a new client, not a cached one built with the old value.
_OPENAI_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID")
_AWS_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
)


def _env_snapshot(names: tuple[str, ...]) -> tuple[str | None, ...]:
    return tuple(env(name) for name in names)


def _flow_run_scope() -> str:
    """The current flow run's id, or "" outside a flow run."""
    # Clients built from a block are reused within one run only: an edited block takes
    # effect on the next run, without reading the block again for every image.
    context = FlowRunContext.get()
    return str(context.flow_run.id) if context and context.flow_run else ""


def openai_client_from_env() -> openai.OpenAI:
    """A client from OPENAI_API_KEY (OPENAI_BASE_URL is honoured by the client itself)."""
    api_key = env("OPENAI_API_KEY")
    if api_key is None:
        raise MissingCredentialsError(MISSING_KEY_MESSAGE)
    return openai.OpenAI(api_key=api_key, **_client_options())


def _openai_client_from_block(credentials_block: str) -> openai.OpenAI:
    block = cast(OpenAICredentials, OpenAICredentials.load(credentials_block, _sync=True))  # type: ignore[call-arg]
    return block.get_client(**_client_options())


def openai_client(credentials_block: str | None = None) -> openai.OpenAI:
    """A client from the named OpenAICredentials block, else from the environment.

    Shared within the process per configuration (see flows.client_cache).
    """
    config = (credentials_block, _env_snapshot(_OPENAI_ENV), RetrySettings.from_env())
    if credentials_block:
        scoped = (*config, _flow_run_scope())
        return _OPENAI_CLIENTS.get(scoped, lambda: _openai_client_from_block(credentials_block))
    return _OPENAI_CLIENTS.get(config, openai_client_from_env)


@dataclass(frozen=True)
class GeneratorTarget:
    """Which generator a run uses; ``offline`` needs no key."""

    kind: Literal["openai", "offline"] = "openai"
    credentials_block: str | None = None

    def open(self) -> ImageGenerator:
        """The generator this target describes."""
        if self.kind == "offline":
            return OfflineImageGenerator()
        return OpenAIImageGenerator(openai_client(self.credentials_block))

    def check(self) -> None:
        """Fail before any work when the OpenAI key is missing."""
        if self.kind == "openai" and not self.credentials_block and env("OPENAI_API_KEY") is None:
            raise MissingCredentialsError(MISSING_KEY_MESSAGE)


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

    @property
    def identity(self) -> str:
        """Everything that changes where an object lands or its URLs."""
        return "|".join(
            str(part)
            for part in (
                self.kind,
                self.endpoint_url or "aws",
                self.region,
                self.bucket,
                self.prefix_root,
                self.cloudfront_domain,
                self.local_root,
            )
        )

    def key_prefix(self, s3_prefix: str) -> str:
        """The block's folder, if any, in front of the run's prefix."""
        return "/".join(p.strip("/") for p in (self.prefix_root, s3_prefix) if p.strip("/"))


def _load_bucket_block(name: str) -> S3Bucket:
    # Imported on use: prefect_aws pulls in its ECS worker and costs ~1.5 s at startup.
    from prefect_aws import S3Bucket

    return cast(S3Bucket, S3Bucket.load(name, _sync=True))  # type: ignore[call-arg]


def resolve_store_target(offline: bool = False, s3_bucket_block: str | None = None) -> StoreTarget:
    """Decide the destination once per run (this may call STS to auto-detect the bucket)."""
    if offline:
        return StoreTarget(kind="local", local_root=str(local_store_root()))
    if s3_bucket_block:
        block = _load_bucket_block(s3_bucket_block)
        credentials = block.credentials
        return StoreTarget(
            kind="s3",
            bucket=block.bucket_name,
            region=getattr(credentials, "region_name", None) or aws_region(),
            prefix_root=block.bucket_folder or "",
            cloudfront_domain=cloudfront_domain(),
            endpoint_url=credentials.aws_client_parameters.endpoint_url or endpoint_url(),
            bucket_block=s3_bucket_block,
        )
    return StoreTarget(
        kind="s3",
        bucket=resolve_bucket_name(),
        region=aws_region(),
        cloudfront_domain=cloudfront_domain(),
        endpoint_url=endpoint_url(),
    )


def _build_s3_client(target: StoreTarget) -> S3Client:
    if target.bucket_block:
        return _load_bucket_block(target.bucket_block).credentials.get_s3_client()
    return s3_client_from_env(target.region or None)


def s3_client(target: StoreTarget) -> S3Client:
    """An S3 client with the target's credentials (its block's, else the default chain).

    Shared within the process per target and AWS environment (see flows.client_cache).
    """
    config = (target, _env_snapshot(_AWS_ENV), _flow_run_scope() if target.bucket_block else "")
    return _S3_CLIENTS.get(config, lambda: _build_s3_client(target))


def open_store(target: StoreTarget) -> ObjectStore:
    """The object store a target describes, with credentials from its block or the chain."""
    if target.kind == "local":
        return LocalObjectStore(Path(target.local_root or local_store_root()))
    return S3ObjectStore(
        s3_client(target),
        bucket=target.bucket,
        region=target.region,
        cloudfront_domain=target.cloudfront_domain,
        endpoint_url=target.endpoint_url,
    )
