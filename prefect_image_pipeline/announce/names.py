"""The Prefect event names the pipeline emits and listens for, each written once here."""

from __future__ import annotations

# One per image outcome; flagged comes besides published (or failed, with --strict-checks).
IMAGE_PUBLISHED_EVENT = "image-pipeline.image.published"
IMAGE_FAILED_EVENT = "image-pipeline.image.failed"
IMAGE_FLAGGED_EVENT = "image-pipeline.image.flagged"
# One per run of a flow that processes images, when it ends.
BATCH_FINISHED_EVENT = "image-pipeline.batch.finished"
# A new source image: emitted by the watcher (or the platform); the on-upload deployment's
# trigger runs process-image on its resource id.
SOURCE_CREATED_EVENT = "image-pipeline.source.created"
