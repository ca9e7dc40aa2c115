"""The image pipeline: the reference toolkit's functions, Prefect tasks and flows.

The library functions are re-exported lazily so that importing a submodule (the CLI
in particular) does not import Prefect before the CLI has configured its logging.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = [
    "cleanup_temp_files",
    "download_image_from_url",
    "encode_image_for_openai",
    "load_image_from_path",
    "process_image_with_openai",
    "upload_image_to_s3",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(import_module("prefect_image_pipeline.image_processing_utils"), name)
    raise AttributeError(f"module 'prefect_image_pipeline' has no attribute {name!r}")
