"""Entrypoint for prefect.yaml: the reprocess-images flow, from prefect_image_pipeline."""

from prefect_image_pipeline.reprocess_images import reprocess_images

__all__ = ["reprocess_images"]
