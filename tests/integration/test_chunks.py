"""Chunking a batch: how inputs split, where reports go, and what is refused up front."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefect_image_pipeline.batch.chunks import ChunkRef, split
from prefect_image_pipeline.errors import ConfigurationError
from prefect_image_pipeline.process_images import process_images
from tests.conftest import S3Env
from tests.fakes.openai_server import FakeOpenAIServer
from tests.images import logo


def test_inputs_split_in_order_with_a_short_last_chunk() -> None:
    assert split(["a", "b", "c", "d", "e"], 2) == [["a", "b"], ["c", "d"], ["e"]]
    assert split(["a"], 5) == [["a"]]


def test_a_chunk_names_its_parent_and_its_report() -> None:
    chunk = ChunkRef.parse("0b5c/3")
    assert (chunk.parent, chunk.index, str(chunk)) == ("0b5c", 3, "0b5c/3")
    assert chunk.report_path == "reports/0b5c/chunk-00003.json"


def test_chunking_without_the_shared_cache_is_refused_before_any_call(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    images = []
    for n in range(3):
        path = tmp_path / f"{n}.png"
        path.write_bytes(logo(seed=n))
        images.append(str(path))
    with pytest.raises(ConfigurationError, match="chunk_size needs the shared cache"):
        process_images(images=images, chunk_size=2)
    assert openai_fake.responses_requests == []


def test_a_batch_no_bigger_than_a_chunk_runs_in_place(
    openai_fake: FakeOpenAIServer, s3: S3Env, tmp_path: Path
) -> None:
    path = tmp_path / "one.png"
    path.write_bytes(logo())
    report = process_images(images=[str(path)], chunk_size=5)  # no deployment needed
    assert len(report.uploaded) == 1
