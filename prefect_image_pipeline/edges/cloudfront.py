"""CloudFront: tell the CDN that some paths changed (the stable aliases a run rewrote).

One invalidation per run, for exactly the alias keys it wrote; none when nothing changed.
The client follows AWS_ENDPOINT_URL as boto3 does (moto in the tests).
"""

from __future__ import annotations

from urllib.parse import quote

import boto3


def invalidation_paths(keys: list[str]) -> list[str]:
    """CloudFront paths of object keys: a leading slash, URL-encoded as the request is."""
    return sorted({"/" + quote(key) for key in keys})


def invalidate(distribution_id: str, keys: list[str], reference: str) -> str | None:
    """Create one invalidation of ``keys``; its id, or None when there is nothing to do.

    ``reference`` (the run's id) makes a retried request the same invalidation.
    """
    paths = invalidation_paths(keys)
    if not paths:
        return None
    # A global service, signed in us-east-1 whatever AWS_REGION says.
    client = boto3.client("cloudfront", region_name="us-east-1")
    answer = client.create_invalidation(
        DistributionId=distribution_id,
        InvalidationBatch={
            "Paths": {"Quantity": len(paths), "Items": paths},
            "CallerReference": reference,
        },
    )
    return str(answer["Invalidation"]["Id"])
