"""An SQS queue on moto that a bucket's ObjectCreated notifications go to, as AWS sets it up."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3

from tests.conftest import S3Env


def sqs_client(s3: S3Env) -> Any:
    return boto3.client("sqs", region_name="us-east-1", endpoint_url=s3.endpoint)


def new_queue(s3: S3Env) -> tuple[str, str]:
    """A new queue that S3 may send to (the policy AWS requires; moto does not check it)."""
    sqs = sqs_client(s3)
    url = sqs.create_queue(QueueName=f"watch-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": arn,
                "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{s3.bucket}"}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    return url, arn


def notify_queue(s3: S3Env, prefix: str, queue_arn: str) -> None:
    """Send the bucket's ObjectCreated notifications under ``prefix`` to the queue."""
    rule = {"Name": "prefix", "Value": prefix}
    s3.client.put_bucket_notification_configuration(  # type: ignore[attr-defined]
        Bucket=s3.bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [rule]}},
                }
            ]
        },
    )
