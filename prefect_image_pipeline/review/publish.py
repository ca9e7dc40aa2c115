"""Where a batch's review reports go: a path on this machine, and/or a key in the bucket.

``--report PATH.html`` writes the page and ``PATH.jsonl`` beside it; the flows' ``report_key``
puts both in the publishing store (the bucket, or the local store offline) next to the
images, under ``report_key`` and the same key ending ``.jsonl``.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from prefect_image_pipeline.batch.outcomes import BatchReport
from prefect_image_pipeline.pipeline.targets import StoreTarget
from prefect_image_pipeline.review.report import html_text, jsonl_text
from prefect_image_pipeline.steps.upload import PublishedImage


def report_keys(report_key: str) -> tuple[str, str]:
    """The page's key and its JSON lines' key."""
    key = report_key.strip("/")
    page = key if key.endswith(".html") else f"{key}.html"
    return page, str(PurePosixPath(page).with_suffix(".jsonl"))


def publish_review(
    report: BatchReport, report_key: str, store: StoreTarget, title: str
) -> PublishedImage:
    """Upload the page and its rows; returns where the page is."""
    page, rows = report_keys(report_key)
    target = store.open()
    target.put_document(rows, jsonl_text(report).encode(), "application/x-ndjson")
    return target.put_document(page, html_text(report, title).encode(), "text/html; charset=utf-8")


def review_if_asked(report: BatchReport, report_key: str | None, store: StoreTarget) -> None:
    """Publish the review page when the run has a ``report_key``, and say where."""
    if not report_key:
        return
    from prefect_image_pipeline.pipeline.reporter import report as say

    published = publish_review(report, report_key, store, title=f"Review: {report.summary()}")
    say(f"Review page: {published.public_url}")
