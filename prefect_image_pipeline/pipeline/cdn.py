"""After a run: one CloudFront invalidation for every stable alias key it rewrote."""

from __future__ import annotations

from collections.abc import Iterable

from prefect.logging import get_run_logger

from prefect_image_pipeline.edges.prefect_server.context import this_run_or_new
from prefect_image_pipeline.errors import explain
from prefect_image_pipeline.pipeline.tasks import invalidate_task, retrying
from prefect_image_pipeline.settings.config import settings
from prefect_image_pipeline.steps.alias import AliasResult


def refresh_cdn(aliases: Iterable[AliasResult | None]) -> str | None:
    """Invalidate the rewritten alias keys on CLOUDFRONT_DISTRIBUTION_ID (batched: one
    request per run); the invalidation's id, or None when nothing changed or no
    distribution is set. Unchanged aliases were not rewritten, so they are not in it."""
    distribution = settings().cloudfront_distribution_id
    keys = sorted({key for alias in aliases if alias is not None for key in alias.written})
    if not distribution or not keys:
        return None
    try:
        # The run's id as the caller reference: a retried request is the same invalidation.
        return retrying(invalidate_task)(distribution, keys, reference=this_run_or_new())
    except Exception as exc:  # noqa: BLE001 - the images are published; say so, not fail
        paths = ", ".join(keys[:3]) + ("…" if len(keys) > 3 else "")
        get_run_logger().warning(
            "CloudFront invalidation of %s failed (%s): the CDN serves the old alias until "
            "its max-age runs out",
            paths,
            explain(exc),
        )
        return None
