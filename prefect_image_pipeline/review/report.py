"""The review reports of a batch: a contact sheet in HTML and its rows as JSON lines.

The HTML page is self-contained (styles, a few lines of script, thumbnails embedded as
data URLs), so it opens from disk with no server, offline, for a private bucket. Each
card shows the source beside the result, the error first when the image failed, its
checks, its cost and a link to the published image; buttons filter to the failed or the
flagged. The JSON lines are the same outcomes, one per line, for ``--redo-flagged`` and
for any other tool (docs/review.md lists the fields).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from prefect_image_pipeline.batch.outcomes import BatchReport, ImageOutcome
from prefect_image_pipeline.pipeline.jobs import options_label

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{padding:16px 24px;background:#fff;border-bottom:1px solid #dde}
h1{font-size:20px;margin:0 0 4px}nav button{margin:8px 8px 0 0;padding:4px 12px;
border:1px solid #99a;border-radius:14px;background:#fff;cursor:pointer}
nav button.on{background:#1d2330;color:#fff}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:16px;padding:24px}
.card{background:#fff;border:1px solid #dde;border-radius:8px;padding:12px;overflow:hidden}
.card.failed{border-color:#d33}.card.flagged{border-color:#e90}
.pair{display:flex;gap:8px}figure{flex:1;margin:0;text-align:center}
figure img{max-width:100%;height:128px;object-fit:contain;background:
repeating-conic-gradient(#ddd 0 25%,#fff 0 50%) 0 0/16px 16px}
figcaption{font-size:12px;color:#667}.missing{height:128px;display:flex;align-items:center;
justify-content:center;background:#eee;color:#889;font-size:12px}
h2{font-size:14px;margin:8px 0 4px;overflow-wrap:anywhere}
.error{color:#b11;font-weight:600;margin:0 0 8px;overflow-wrap:anywhere}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;margin-right:4px}
.badge.uploaded{background:#dfd}.badge.failed{background:#fdd}.badge.flagged{background:#fe9}
.badge.submitted,.badge.skipped{background:#eef}
ul{margin:6px 0;padding-left:18px;font-size:12px}li.fail{color:#b50}
.cost{font-size:12px;color:#445}a{font-size:12px;overflow-wrap:anywhere}
.card[hidden]{display:none}
"""

# Filters hide the cards that do not match (the ``hidden`` attribute, so the DOM says
# what is shown); ``review.html#flagged`` opens filtered.
_SCRIPT = """
function show(what) {
  document.body.dataset.show = what;
  for (const b of document.querySelectorAll('nav button'))
    b.classList.toggle('on', b.dataset.show === what);
  for (const c of document.querySelectorAll('.card'))
    c.hidden = what !== 'all' && !c.classList.contains(what);
}
for (const b of document.querySelectorAll('nav button')) b.onclick = () => show(b.dataset.show);
if (['#failed', '#flagged'].includes(location.hash)) show(location.hash.slice(1));
"""


def report_rows(report: BatchReport) -> list[dict[str, Any]]:
    """One JSON-ready row per outcome: the outcome itself plus the fields people filter on."""
    return [
        {
            "input": o.input,
            "options": o.options,
            "status": o.status,
            "flags": o.review.checks.flags if o.review else [],
            "output_key": o.key,
            "public_url": o.public_url,
            "cost_usd": None if o.cost is None else o.cost.usd,
            "error": o.error,
            "outcome": o.model_dump(mode="json"),
        }
        for o in report.outcomes
    ]


def read_rows(path: Path) -> BatchReport:
    """The outcomes of a JSON lines report, in order."""
    outcomes = [
        ImageOutcome.model_validate(json.loads(line)["outcome"])
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    return BatchReport(outcomes=outcomes)


def jsonl_text(report: BatchReport) -> str:
    """The JSON lines report."""
    return "".join(json.dumps(row) + "\n" for row in report_rows(report))


def _image(url: str | None, caption: str) -> str:
    shown = (
        f'<img alt="{caption}" src="{html.escape(url)}">'
        if url
        else f'<div class="missing">no {caption.lower()}</div>'
    )
    return f"<figure>{shown}<figcaption>{caption}</figcaption></figure>"


def _card(outcome: ImageOutcome) -> str:
    review = outcome.review
    classes = ["card", outcome.status] + (["flagged"] if outcome.flagged else [])
    parts = [f'<article class="{" ".join(classes)}" data-input="{html.escape(outcome.input)}">']
    if outcome.error:
        parts.append(f'<p class="error">{html.escape(outcome.error)}</p>')
    parts.append('<div class="pair">')
    parts.append(_image(review.source_thumbnail if review else None, "Source"))
    parts.append(_image(review.result_thumbnail if review else None, "Result"))
    parts.append("</div>")
    parts.append(f"<h2>{html.escape(outcome.input)}</h2>")
    if outcome.options:  # a jobs row's own options
        parts.append(f'<p class="options">{html.escape(options_label(outcome.options))}</p>')
    parts.append(f'<span class="badge {outcome.status}">{outcome.status}</span>')
    if outcome.flagged and review:
        shown = html.escape(", ".join(review.checks.flags))
        parts.append(f'<span class="badge flagged">flagged: {shown}</span>')
    if review:
        items = "".join(
            f'<li class="{"pass" if r.passed else "fail"}">{html.escape(r.name)}: '
            f"{html.escape(r.detail)}</li>"
            for r in review.checks.results
        )
        parts.append(f'<ul class="checks">{items}</ul>')
    if outcome.cost is not None:
        parts.append(f'<p class="cost">{html.escape(outcome.cost.describe())}</p>')
    if outcome.public_url:
        url = html.escape(outcome.public_url)
        parts.append(f'<a href="{url}">{url}</a>')
    parts.append(_web(outcome))
    parts.append("</article>")
    return "".join(parts)


def _web(outcome: ImageOutcome) -> str:
    """The web copies and the stable alias of an output, as links (empty when none)."""
    links = []
    if outcome.copies is not None:
        links += [
            f'<li><a href="{html.escape(c.public_url)}">{c.format} {c.width}w</a> '
            f"({c.bytes:,} bytes)</li>"
            for c in outcome.copies.copies
        ]
        links += [f"<li>{html.escape(reason)}</li>" for reason in outcome.copies.skipped]
    if outcome.alias is not None:
        url = html.escape(outcome.alias.public_url)
        links.append(f'<li>stable: <a href="{url}">{html.escape(outcome.alias.key)}</a></li>')
    return f'<ul class="copies">{"".join(links)}</ul>' if links else ""


def _button(show: str, label: str, count: int, on: bool = False) -> str:
    state = ' class="on"' if on else ""
    return f'<button data-show="{show}"{state}>{label} ({count})</button>'


def html_text(report: BatchReport, title: str = "Review") -> str:
    """The self-contained contact sheet."""
    buttons = [
        _button("all", "All", len(report.outcomes), on=True),
        _button("failed", "Failed", len(report.failed)),
        _button("flagged", "Flagged", len(report.flagged)),
    ]
    cards = "\n".join(_card(outcome) for outcome in report.outcomes)
    summary = html.escape(f"{report.summary()}. {report.cost.describe()}")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f'<body data-show="all"><header><h1>{html.escape(title)}</h1>'
        f'<p class="summary">{summary}</p><nav>{"".join(buttons)}</nav></header>'
        f"<main>{cards}</main><script>{_SCRIPT}</script></body></html>\n"
    )


def jsonl_path(html_path: Path) -> Path:
    """``review.html`` -> ``review.jsonl``: the rows beside the page."""
    return html_path.with_suffix(".jsonl")


def write_reports(report: BatchReport, html_path: Path, title: str = "Review") -> Path:
    """Write the page and its JSON lines beside it; returns the JSON lines' path."""
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(html_text(report, title), encoding="utf-8")
    rows = jsonl_path(html_path)
    rows.write_text(jsonl_text(report), encoding="utf-8")
    return rows
