"""Entrypoint for prefect.yaml: the process-images flow (prefect_image_pipeline.process_images)."""

from prefect_image_pipeline.process_images import process_images

__all__ = ["process_images"]
