"""Every SQS call the pipeline makes: receive a long-poll batch, delete a handled message.

The client is built like S3's (edges.s3.client): the environment's credential chain, in
AWS_REGION (default us-east-1), with AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_SQS honoured by
boto3 itself (moto, LocalStack, ElasticMQ). Errors are botocore's ``ClientError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, cast

import boto3

from prefect_image_pipeline.edges.reuse import ClientCache, aws_environment, env_snapshot
from prefect_image_pipeline.settings.config import settings

__all__ = ["MAX_WAIT_SECONDS", "Message", "delete", "receive"]

# SQS answers a long poll after at most 20 s (its WaitTimeSeconds limit).
MAX_WAIT_SECONDS = 20
_AWS_ENV = aws_environment("SQS")


class _SQSClient(Protocol):
    """The two calls we make, as boto3 answers them (no SQS stubs are installed)."""

    def receive_message(self, **kwargs: Any) -> dict[str, Any]: ...

    def delete_message(self, **kwargs: Any) -> dict[str, Any]: ...


# Process-wide on purpose, as S3's: a watcher polls for hours through one client.
_CLIENTS: ClientCache[_SQSClient] = ClientCache()


@dataclass(frozen=True)
class Message:
    """One received message: its id, the handle that deletes it, and its body."""

    message_id: str
    receipt_handle: str
    body: str


def receive(queue_url: str, wait_seconds: int, max_messages: int = 10) -> list[Message]:
    """Up to ``max_messages`` (1-10) messages, waiting up to ``wait_seconds`` (0-20) for one."""
    answer = _client().receive_message(
        QueueUrl=queue_url,
        WaitTimeSeconds=max(0, min(wait_seconds, MAX_WAIT_SECONDS)),
        MaxNumberOfMessages=max(1, min(max_messages, 10)),
    )
    return [
        Message(item["MessageId"], item["ReceiptHandle"], item.get("Body", ""))
        for item in answer.get("Messages", [])
    ]


def delete(queue_url: str, receipt_handle: str) -> None:
    """Delete the received message ``receipt_handle`` names, so it is not delivered again."""
    _client().delete_message(QueueUrl=queue_url, ReceiptHandle=receipt_handle)


def _client() -> _SQSClient:
    region = settings().aws_region
    return _CLIENTS.get(("sqs", region, env_snapshot(_AWS_ENV)), lambda: _build(region))


def _build(region: str) -> _SQSClient:
    return cast(_SQSClient, boto3.client("sqs", region_name=region))
