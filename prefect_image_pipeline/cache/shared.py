"""Cache records in an S3 bucket every host reads: a hit on one host is a hit on all.

Selected per run by the name of a saved prefect-aws S3Bucket block
(IMAGE_PIPELINE_CACHE_BLOCK, the ``cache_block`` flow parameter, ``--cache-block``).
Prefect's result storage is the machinery; three things about its defaults would bite
and are designed out here:

- a record is cloudpickle, so anyone who can write the bucket could run code on every
  worker: records are JSON (``SharedRecordSerializer``), and an index entry naming any
  other serializer is refused (treated as a miss and overwritten);
- a PNG would sit base64 inside the record: image bytes are content-addressed objects
  (``images/<sha256>.<ext>``), written once, read once, checked against their hash;
- a hit reads the whole record twice (``exists()`` then ``read()``): the policy gets a
  key storage of its own (``CacheIndex``), whose small entries are read once per process
  and remembered for the moment between the two calls.

Layout under the block's folder: ``index/<key>`` (Prefect's record metadata, JSON),
``<key>`` (our record, JSON), ``images/<sha256>.<ext>`` (bytes).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar

from prefect.filesystems import WritableFileSystem
from prefect.serializers import Serializer
from pydantic import ConfigDict, Field, PrivateAttr

from prefect_image_pipeline.cache.records import GENERATED_IMAGE, decode_record, encode_record
from prefect_image_pipeline.edges.s3.blocks import get_block_bytes, put_block_bytes
from prefect_image_pipeline.steps.upload import EXTENSIONS, content_type

if TYPE_CHECKING:
    from prefect_aws import S3Bucket

RECORD_TYPE = "image-pipeline-shared-record"
INDEX_FOLDER = "index"
IMAGES_FOLDER = "images"
# exists() and read() of one lookup are milliseconds apart; anything older is re-read.
_REMEMBER_SECONDS = 30.0
_REMEMBER_ENTRIES = 1024


class CacheCorruptError(ValueError):
    """An object of the shared cache does not match what its record says."""


# -- the bucket blocks, once per process ---------------------------------------------


# Process-wide on purpose: a block is a round trip to the Prefect server, and every record
# of every run in this process is read through the same one.
_BUCKETS: dict[str, S3Bucket] = {}
_BUCKETS_GUARD = threading.Lock()


def cache_bucket(block_name: str) -> S3Bucket:
    """The saved S3Bucket block ``block_name`` (loaded once per process)."""
    from prefect_image_pipeline.edges.s3.client import load_bucket_block

    with _BUCKETS_GUARD:
        if block_name not in _BUCKETS:
            _BUCKETS[block_name] = load_bucket_block(block_name)
        return _BUCKETS[block_name]


# -- records ----------------------------------------------------------------------


class SharedRecordSerializer(Serializer):  # type: ignore[type-arg]
    """JSON records whose images live beside them as content-addressed objects."""

    type: str = Field(default=RECORD_TYPE, frozen=True)
    block: str = Field(description="The S3Bucket block holding the records and images.")

    def dumps(self, obj: Any) -> bytes:
        """The record of ``obj``; a GeneratedImage's bytes are written as their own object."""
        record, image = encode_record(obj)
        if record["record"] == GENERATED_IMAGE:
            record["fields"]["image"] = self._put_image(image)
        return json.dumps(record, sort_keys=True, indent=1).encode()

    def loads(self, blob: bytes) -> Any:
        """The object a record holds (its image read and checked against its hash)."""
        record = json.loads(blob)
        if record["record"] != GENERATED_IMAGE:
            return decode_record(record, b"")
        image = record["fields"].pop("image")
        data = get_block_bytes(cache_bucket(self.block), image["path"])
        if hashlib.sha256(data).hexdigest() != image["sha256"]:
            raise CacheCorruptError(
                f"{image['path']} does not match the sha256 of its record; delete the "
                "record's index entry or the image to generate it again"
            )
        return decode_record(record, data)

    def _put_image(self, data: bytes) -> dict[str, str]:
        digest = hashlib.sha256(data).hexdigest()
        mime = content_type(data)
        path = f"{IMAGES_FOLDER}/{digest}.{EXTENSIONS.get(mime, 'bin')}"
        put_block_bytes(cache_bucket(self.block), path, data, mime)
        return {"path": path, "sha256": digest}


# -- the index Prefect looks keys up in -------------------------------------------


class CacheIndex(WritableFileSystem):
    """Key storage under ``index/`` of the cache bucket; remembers what it just read."""

    _block_type_name: ClassVar[str] = "Image pipeline cache index"
    model_config = ConfigDict(arbitrary_types_allowed=True)

    block: str = Field(description="The S3Bucket block holding the index.")
    _recent: OrderedDict[str, tuple[float, bytes]] = PrivateAttr(default_factory=OrderedDict)
    _guard: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def _path(self, path: str) -> str:
        return f"{INDEX_FOLDER}/{path}"

    def read_path(self, path: str, **_: Any) -> bytes:  # type: ignore[override]
        """The index entry of ``path``; only entries naming our JSON serializer are read."""
        now = time.monotonic()
        with self._guard:
            remembered = self._recent.pop(path, None)
        if remembered is not None and now - remembered[0] < _REMEMBER_SECONDS:
            return remembered[1]
        content = get_block_bytes(cache_bucket(self.block), self._path(path))
        serializer = json.loads(content).get("serializer", {}).get("type")
        if serializer != RECORD_TYPE:
            raise CacheCorruptError(f"index/{path} names serializer {serializer!r}; refused")
        with self._guard:
            self._recent[path] = (now, content)
            while len(self._recent) > _REMEMBER_ENTRIES:
                self._recent.popitem(last=False)
        return content

    def write_path(self, path: str, content: bytes, **_: Any) -> str:  # type: ignore[override]
        """Write the index entry of ``path``."""
        put_block_bytes(cache_bucket(self.block), self._path(path), content, "application/json")
        with self._guard:
            self._recent.pop(path, None)
        return path

    async def aread_path(self, path: str) -> bytes:
        """As read_path, in a worker thread."""
        from anyio import to_thread

        return await to_thread.run_sync(self.read_path, path)

    async def awrite_path(self, path: str, content: bytes) -> str:
        """As write_path, in a worker thread."""
        from anyio import to_thread

        return await to_thread.run_sync(self.write_path, path, content)


# Process-wide on purpose: what exists() remembered must still be there for read().
@lru_cache(maxsize=16)
def cache_index(block_name: str) -> CacheIndex:
    """One index per block and process, so what exists() read is there for read()."""
    return CacheIndex(block=block_name)
