"""The callback signature: HMAC-SHA256 of the raw body, as the platform checks it.

A receiver recomputes ``sign(body, secret)`` over the bytes exactly as they arrived (before
any JSON parsing) and compares it with ``SIGNATURE_HEADER`` in constant time (``verify``).
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Image-Pipeline-Signature-256"


def sign(body: bytes, secret: str) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, header: str | None) -> bool:
    """Whether ``header`` is the signature of exactly these bytes (what a receiver checks)."""
    if header is None:
        return False
    return hmac.compare_digest(sign(body, secret).encode(), header.encode("utf-8", "replace"))
