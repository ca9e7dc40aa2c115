"""The result artifact of a one-image run: the row a batch's previews show for each image.

Source beside result as embedded thumbnails (checks.thumbnails), the checks, the cost and
the public link. The cells are made here so a batch's previews (batch.artifacts) and a
one-image run show an image the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, cast
from uuid import UUID

from prefect.artifacts import create_markdown_artifact

from prefect_image_pipeline.inputs import parse_input
from prefect_image_pipeline.steps.srcset import picture_html

if TYPE_CHECKING:
    from prefect_image_pipeline.checks.review import Review
    from prefect_image_pipeline.pricing import CostEstimate
    from prefect_image_pipeline.steps.alias import AliasResult
    from prefect_image_pipeline.steps.web_copies import WebCopies

RESULT_KEY = "process-image-result"


class Published(Protocol):
    """What the artifact shows of a published image (pipeline.run.ProcessedImage)."""

    @property
    def input(self) -> str: ...

    @property
    def review(self) -> Review | None: ...

    @property
    def cost(self) -> CostEstimate | None: ...

    @property
    def public_url(self) -> str: ...

    @property
    def copies(self) -> WebCopies | None: ...

    @property
    def alias(self) -> AliasResult | None: ...


PREVIEW_HEADER = [
    "| Status / error | Source | Result | Checks | Cost | Input |",
    "|---|---|---|---|---|---|",
]


def checks_cell(review: Review | None) -> str:
    """The flags of an output, ``ok`` when none, empty when it was never checked."""
    if review is None:
        return ""
    return ", ".join(review.checks.flags) or "ok"


def cost_cell(cost: CostEstimate | None) -> str:
    """``$0.0123``, or empty when unknown."""
    return "" if cost is None or cost.usd is None else f"${cost.usd:.4f}"


def _thumb(url: str | None, label: str) -> str:
    return f"![{label}]({url})" if url else "—"


def preview_row(
    status: str,
    error: str | None,
    review: Review | None,
    cost: CostEstimate | None,
    shown: str,
    public_url: str | None,
) -> str:
    """One image's row of the previews table (``PREVIEW_HEADER``)."""
    cells = [
        f"**{status}**" + (f": {error}" if error else ""),
        _thumb(review.source_thumbnail if review else None, "source"),
        _thumb(review.result_thumbnail if review else None, "result"),
        checks_cell(review),
        cost_cell(cost),
        shown if not public_url else f"[{shown}]({public_url})",
    ]
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def result_markdown(processed: Published) -> str:
    """The one-image run's result: a title, then its row as a batch's previews show it."""
    source = parse_input(processed.input)  # shown without a URL's password or signature
    flagged = processed.review is not None and processed.review.flagged
    title = f"# Uploaded {source.name}" + (", flagged by the checks" if flagged else "")
    row = preview_row(
        "uploaded", None, processed.review, processed.cost, source.shown, processed.public_url
    )
    web = web_markdown(processed.public_url, processed.copies, processed.alias)
    return "\n".join([title, "", *PREVIEW_HEADER, row, *web])


def web_markdown(
    public_url: str | None, copies: WebCopies | None, alias: AliasResult | None
) -> list[str]:
    """The web copies, the stable alias and the ``<picture>`` to paste, as markdown lines
    (none when the run asked for neither)."""
    lines: list[str] = []
    if copies is not None:
        lines += ["", "Web copies:", ""]
        lines += [
            f"- [{c.format} {c.width}w]({c.public_url}): {c.bytes:,} bytes" for c in copies.copies
        ]
        lines += [f"- {reason}" for reason in copies.skipped]
    if alias is not None:
        state = f"{len(alias.written)} rewritten, {len(alias.unchanged)} unchanged"
        lines += ["", f"Stable URL: [{alias.key}]({alias.public_url}) ({state})"]
    if copies is not None and copies.copies and public_url:
        snippet = picture_html(
            public_url, copies.content_type, copies.width, copies.height, copies.copies
        )
        lines += ["", "```html", snippet, "```"]
    return lines


def publish_result(processed: Published, key: str = RESULT_KEY) -> UUID:
    """The one-image run's result as a markdown artifact of the current run; its id."""
    description = processed.cost.describe() if processed.cost else "Uploaded"
    return cast(
        UUID, create_markdown_artifact(result_markdown(processed), key=key, description=description)
    )
