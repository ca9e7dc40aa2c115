"""Errors the pipeline raises, and the one classifier that decides what is worth retrying.

Library functions keep the exception types the reference documents (ValueError,
FileNotFoundError, requests exceptions, botocore ClientError, RuntimeError); the
classes here subclass those types so existing ``except`` clauses keep working
while the messages name the input and the fix.
"""

from __future__ import annotations

import requests
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

# S3 error codes that go away by themselves; everything else needs a person.
_TRANSIENT_S3_CODES = {
    "InternalError",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
}

# HTTP statuses a download may retry: timeouts, rate limits and server faults.
_TRANSIENT_HTTP_STATUSES = {408, 425, 429}


class ImagePipelineError(Exception):
    """Base class for errors raised by the pipeline itself."""


class InvalidImageSourceError(ImagePipelineError, ValueError):
    """The input is neither a usable URL nor a local path."""


class UnsafeURLError(InvalidImageSourceError):
    """The URL (or a redirect) leads to an address we refuse to contact; never retried."""


class InvalidOptionsError(ImagePipelineError, ValueError):
    """Generation options that cannot work together (refused before any call)."""


class ConfigurationError(ImagePipelineError, ValueError):
    """An IMAGE_PIPELINE_* variable holds a value we cannot use."""


class LocalServerError(ImagePipelineError, RuntimeError):
    """The background Prefect server cannot be started or reused (the message names the fix)."""


class ImageNotFoundError(ImagePipelineError, FileNotFoundError):
    """A local image path does not exist."""


class InvalidImageError(ImagePipelineError, ValueError):
    """The bytes are empty, too large, or not an image we accept."""


class MissingCredentialsError(ImagePipelineError):
    """A required secret (OpenAI key, AWS credentials) was not configured."""


class ImageGenerationError(ImagePipelineError):
    """OpenAI did not produce an image; ``transient`` says whether a retry may help."""

    def __init__(
        self,
        message: str,
        *,
        transient: bool = False,
        retry_after: float | None = None,
        status_code: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        response_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after
        self.status_code = status_code
        self.code = code
        self.request_id = request_id
        self.response_id = response_id


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the same call later may succeed (429, 5xx, timeouts, resets)."""
    if isinstance(exc, ImageGenerationError):
        return exc.transient
    if isinstance(exc, requests.exceptions.SSLError):
        return False  # a certificate that does not match will not start matching
    # ChunkedEncodingError: the connection closed before the promised body arrived.
    if isinstance(
        exc, (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError)
    ):
        return True
    if isinstance(exc, requests.HTTPError):
        status = exc.response.status_code if exc.response is not None else None
        return status is not None and (status in _TRANSIENT_HTTP_STATUSES or status >= 500)
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error.get("Code") in _TRANSIENT_S3_CODES or status >= 500
    return isinstance(exc, (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError))


def explain(exc: BaseException) -> str:
    """A one-line, secret-free description of ``exc`` that says what to do next."""
    if isinstance(exc, ClientError):
        return _explain_s3(exc)
    if isinstance(exc, NoCredentialsError):
        return (
            "AWS credentials not found; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            "configure ~/.aws/credentials, or pass an S3 bucket block"
        )
    if isinstance(exc, BotoCoreError):
        return f"AWS error: {exc}"
    if isinstance(exc, requests.RequestException):
        return str(exc) or type(exc).__name__
    message = str(exc) or type(exc).__name__
    if isinstance(exc, ImagePipelineError):
        return message
    return f"{type(exc).__name__}: {message}"


def _explain_s3(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    bucket = str(error.get("BucketName", "")) or "the bucket"
    expired = (
        "the AWS credentials have expired; refresh them (new AWS_SESSION_TOKEN, "
        "aws sso login, or the S3 bucket block's keys)"
    )
    fixes = {
        "NoSuchBucket": f"bucket {bucket} does not exist; create it or set ARTIFACTS_BUCKET",
        "AccessDenied": (
            f"access denied to {bucket}; the AWS credentials in use (AWS_ACCESS_KEY_ID, "
            "profile, role or S3 bucket block) need s3:PutObject on it"
        ),
        "AllAccessDisabled": f"all access to {bucket} is disabled; use another ARTIFACTS_BUCKET",
        "ExpiredToken": expired,
        "TokenRefreshRequired": expired,
        "InvalidToken": "the AWS session token is not valid; check AWS_SESSION_TOKEN",
        "InvalidAccessKeyId": "the AWS access key id is not valid; check AWS_ACCESS_KEY_ID",
        "SignatureDoesNotMatch": "the AWS secret key is wrong; check AWS_SECRET_ACCESS_KEY",
        "RequestTimeTooSkewed": "this machine's clock is wrong; sync it (NTP) and retry",
    }
    detail = fixes.get(code, str(error.get("Message", "")) or code)
    return f"Error uploading image to S3 ({code}): {detail}"
