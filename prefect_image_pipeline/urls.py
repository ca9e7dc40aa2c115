"""Leaves: URL text, read and shown: an http(s) URL's parts, and a URL fit for messages.

Which URLs may be fetched is decided at the HTTP edge (prefect_image_pipeline.edges.http).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from prefect_image_pipeline.errors import InvalidImageSourceError

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Query parameters whose values are credentials (presigned URLs, tokens); never echoed.
_SECRET_PARAM = re.compile(r"sig|token|key|secret|credential|password|auth", re.I)


def normalise_host(host: str) -> str:
    """``host`` as compared: no brackets, no trailing dot, lower case."""
    return host.strip().strip("[]").rstrip(".").lower()


def parse_http_url(url: str) -> tuple[str, str, int]:
    """Scheme, normalised host and port of an http(s) URL; InvalidImageSourceError otherwise."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    shown = redact_url(url)
    if scheme not in _DEFAULT_PORTS:
        raise InvalidImageSourceError(
            f"Unsupported URL scheme '{scheme}' in {shown}; use an http(s) URL or a local file path"
        )
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError as exc:
        raise InvalidImageSourceError(f"Invalid image URL: {shown} has a bad port") from exc
    host = normalise_host(parts.hostname or "")
    if not host:
        raise InvalidImageSourceError(f"Invalid image URL: {shown} has no host")
    return scheme, host, port


def redact_url(url: str) -> str:
    """``url`` fit for messages and logs: no password, no signature or token values."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
        query = parts.query
        if query and _SECRET_PARAM.search(query):
            pairs = parse_qsl(query, keep_blank_values=True)
            query = urlencode(
                [(k, "***" if _SECRET_PARAM.search(k) else v) for k, v in pairs], safe="*"
            )
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "<unparsable URL>"
