"""Entrypoint for prefect.yaml: the watch-sources flow (prefect_image_pipeline.watch_sources)."""

from prefect_image_pipeline.watch_sources import watch_sources

__all__ = ["watch_sources"]
