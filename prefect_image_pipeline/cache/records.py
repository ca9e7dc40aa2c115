"""Cache records in a form that survives upgrades: named JSON records, not pickles.

Prefect pickles results by default, which ties a record to the module path of its class
(moving a class makes every cached image unreadable, so it is paid for again) and lets
anyone who can write the result storage run code in every worker. Generation and upload
records are written here as JSON under a stable record name instead. This module owns
the record format for both stores: this host's (``RecordSerializer``) and the shared
bucket's (prefect_image_pipeline.cache.shared), which keeps the image beside the record.

Records written before this serializer existed (release be5a233 and earlier) are
cloudpickles naming ``flows.generate`` and ``flows.storage``; ``register_legacy_modules``
keeps those names resolving to today's classes, so such caches are still hits.
"""

from __future__ import annotations

import base64
import json
import sys
import types
from dataclasses import asdict
from typing import Any

from prefect.serializers import Serializer
from pydantic import Field

from prefect_image_pipeline.steps.generate import GeneratedImage
from prefect_image_pipeline.steps.upload import PublishedImage
from prefect_image_pipeline.steps.usage import TokenUsage
from prefect_image_pipeline.steps.web_copies import WebCopies

# The one record format, for records on this host (RecordSerializer) and in a shared
# bucket (cache.shared): bump it only with a reader for the old one, or caches are paid again.
RECORD_FORMAT = 1
GENERATED_IMAGE = "generated-image"
PUBLISHED_IMAGE = "published-image"
WEB_COPIES = "web-copies"
# Where records pickled by earlier releases look for their classes.
_LEGACY_MODULES: dict[str, tuple[type, ...]] = {
    "flows.generate": (GeneratedImage, TokenUsage),
    "flows.storage": (PublishedImage,),
}


def encode_record(obj: object) -> tuple[dict[str, Any], bytes]:
    """The record of ``obj`` (a GeneratedImage or PublishedImage) and the bytes kept beside it.

    The record is ``{"record": name, "format": RECORD_FORMAT, "fields": ...}``; a
    GeneratedImage's PNG is left out of its fields and returned as the bytes (a
    PublishedImage has none), for each store to keep its own way.
    """
    if isinstance(obj, GeneratedImage):
        fields = asdict(obj)  # its TokenUsage becomes a nested dict
        del fields["png"]
        return _record(GENERATED_IMAGE, fields), obj.png
    if isinstance(obj, PublishedImage):
        return _record(PUBLISHED_IMAGE, asdict(obj)), b""
    if isinstance(obj, WebCopies):
        return _record(WEB_COPIES, obj.model_dump(mode="json")), b""
    raise TypeError(f"No cache record type for {type(obj).__name__}")


def decode_record(
    record: dict[str, Any], body: bytes
) -> GeneratedImage | PublishedImage | WebCopies:
    """The object ``encode_record`` made ``record`` and ``body`` from."""
    fields = record["fields"]
    if record["record"] == PUBLISHED_IMAGE:
        return PublishedImage(**fields)
    if record["record"] == WEB_COPIES:
        return WebCopies.model_validate(fields)
    if record["record"] != GENERATED_IMAGE:
        raise KeyError(record["record"])
    usage = fields.get("usage")
    return GeneratedImage(
        **{**fields, "png": body, "usage": TokenUsage(**usage) if usage else None}
    )


def _record(name: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {"record": name, "format": RECORD_FORMAT, "fields": fields}


class RecordSerializer(Serializer):  # type: ignore[type-arg]
    """Prefect result serializer for the pipeline's cache records (no code, no class paths).

    A record is one JSON header line (record name, format, fields) followed by the raw
    image bytes, base64-wrapped once as Prefect stores every result.
    """

    type: str = Field(default="image-pipeline-record", frozen=True)

    def dumps(self, obj: Any) -> bytes:
        """The record of ``obj`` (a GeneratedImage or PublishedImage)."""
        header, body = encode_record(obj)
        return base64.b64encode(json.dumps(header, sort_keys=True).encode() + b"\n" + body)

    def loads(self, blob: bytes) -> Any:
        """The object a record holds."""
        header, _, body = base64.b64decode(blob).partition(b"\n")
        return decode_record(json.loads(header), body)


def register_legacy_modules() -> None:
    """Let records pickled by earlier releases find their classes under the old module names."""
    for name, classes in _LEGACY_MODULES.items():
        if name in sys.modules:
            continue
        module = types.ModuleType(
            name, "Old home of cache record classes (prefect_image_pipeline.cache.records)"
        )
        for cls in classes:
            setattr(module, cls.__name__, cls)
        sys.modules[name] = module
