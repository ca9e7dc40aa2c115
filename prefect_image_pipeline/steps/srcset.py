"""The HTML a page pastes to serve an output and its web copies: a ``<picture>`` element.

Sources go best-compressed first (AVIF, WebP); the ``<img>`` keeps the output's own format
with its narrower copies, so every browser gets something and a phone never downloads the
full-width original.
"""

from __future__ import annotations

from html import escape

from prefect_image_pipeline.steps.web_copies import WebCopy

_PREFERENCE = ("image/avif", "image/webp", "image/png", "image/jpeg")


def picture_html(
    public_url: str, content_type: str, width: int, height: int, copies: list[WebCopy]
) -> str:
    """``<picture>`` with one ``<source>`` per other format and the output as ``<img>``."""
    by_type: dict[str, list[tuple[int, str]]] = {content_type: [(width, public_url)]}
    for copy in copies:
        by_type.setdefault(copy.content_type, []).append((copy.width, copy.public_url))
    lines = ["<picture>"]
    for mime in sorted(by_type, key=lambda m: _PREFERENCE.index(m) if m in _PREFERENCE else 9):
        if mime != content_type:
            lines.append(
                f'  <source type="{mime}" srcset="{_srcset(by_type[mime])}" sizes="100vw">'
            )
    lines.append(
        f'  <img src="{escape(public_url)}" srcset="{_srcset(by_type[content_type])}" '
        f'sizes="100vw" width="{width}" height="{height}" alt="">'
    )
    lines.append("</picture>")
    return "\n".join(lines)


def _srcset(candidates: list[tuple[int, str]]) -> str:
    return ", ".join(f"{escape(url)} {w}w" for w, url in sorted(set(candidates)))
