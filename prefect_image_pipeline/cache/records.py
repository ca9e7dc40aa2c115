"""Cache records in a form that survives upgrades: named JSON records, not pickles.

Prefect pickles results by default, which ties a record to the module path of its class
(moving a class makes every cached image unreadable, so it is paid for again) and lets
anyone who can write the result storage run code in every worker. Generation and upload
records are written here as JSON under a stable record name instead.

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

RECORD_FORMAT = 1
# Where records pickled by earlier releases look for their classes.
_LEGACY_MODULES: dict[str, tuple[type, ...]] = {
    "flows.generate": (GeneratedImage, TokenUsage),
    "flows.storage": (PublishedImage,),
}


def _generated_fields(image: GeneratedImage) -> tuple[dict[str, Any], bytes]:
    fields = asdict(image)
    del fields["png"]
    return fields, image.png


def _generated_from(fields: dict[str, Any], body: bytes) -> GeneratedImage:
    usage = fields.get("usage")
    return GeneratedImage(
        **{**fields, "png": body, "usage": TokenUsage(**usage) if usage else None}
    )


def _published_fields(image: PublishedImage) -> tuple[dict[str, Any], bytes]:
    return asdict(image), b""


_ENCODERS: dict[type, tuple[str, Any]] = {
    GeneratedImage: ("generated-image", _generated_fields),
    PublishedImage: ("published-image", _published_fields),
}
_DECODERS: dict[str, Any] = {
    "generated-image": _generated_from,
    "published-image": lambda fields, body: PublishedImage(**fields),
}


class RecordSerializer(Serializer):  # type: ignore[type-arg]
    """Prefect result serializer for the pipeline's cache records (no code, no class paths).

    A record is one JSON header line (record name, format, fields) followed by the raw
    image bytes, base64-wrapped once as Prefect stores every result.
    """

    type: str = Field(default="image-pipeline-record", frozen=True)

    def dumps(self, obj: Any) -> bytes:
        """The record of ``obj`` (a GeneratedImage or PublishedImage)."""
        try:
            name, encode = _ENCODERS[type(obj)]
        except KeyError:
            raise TypeError(f"No cache record type for {type(obj).__name__}") from None
        fields, body = encode(obj)
        header = {"record": name, "format": RECORD_FORMAT, "fields": fields}
        return base64.b64encode(json.dumps(header, sort_keys=True).encode() + b"\n" + body)

    def loads(self, blob: bytes) -> Any:
        """The object a record holds."""
        header, _, body = base64.b64decode(blob).partition(b"\n")
        document = json.loads(header)
        return _DECODERS[document["record"]](document["fields"], body)


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
