"""Entrypoint for prefect.yaml: the collect-batches flow, from prefect_image_pipeline."""

from prefect_image_pipeline.collect_batches import collect_batches

__all__ = ["collect_batches"]
