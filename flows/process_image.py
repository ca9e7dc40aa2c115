"""Entrypoint for prefect.yaml: the process-image flow (prefect_image_pipeline.process_image)."""

from prefect_image_pipeline.process_image import process_image

__all__ = ["process_image"]
