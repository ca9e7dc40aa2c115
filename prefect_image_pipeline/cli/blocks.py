"""``python -m blocks``: save the pipeline's blocks from the environment and register our types."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from prefect_image_pipeline.blocks.names import (
    DEFAULT_AWS_CREDENTIALS_BLOCK,
    DEFAULT_CACHE_BLOCK,
    DEFAULT_OPENAI_BLOCK,
    DEFAULT_S3_BUCKET_BLOCK,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Save the blocks; exit 1 with a one-line reason when the environment is incomplete."""
    parser = argparse.ArgumentParser(prog="python -m blocks", description=__doc__)
    parser.add_argument("--openai-block", default=DEFAULT_OPENAI_BLOCK, help="default: %(default)s")
    parser.add_argument(
        "--aws-block",
        default=DEFAULT_AWS_CREDENTIALS_BLOCK,
        help="default: %(default)s",
    )
    parser.add_argument("--s3-block", default=DEFAULT_S3_BUCKET_BLOCK, help="default: %(default)s")
    parser.add_argument(
        "--cache-block",
        default=DEFAULT_CACHE_BLOCK,
        help="name of the shared cache's block, saved when IMAGE_PIPELINE_CACHE_BUCKET is set "
        "(default: %(default)s)",
    )
    parser.add_argument("--skip-openai", action="store_true", help="save only the AWS blocks")
    args = parser.parse_args(argv)

    from prefect_image_pipeline.blocks.openai_credentials import OpenAICredentials
    from prefect_image_pipeline.cli.blocks_setup import save_blocks_from_env
    from prefect_image_pipeline.cli.server import connect_and_announce
    from prefect_image_pipeline.errors import explain

    try:
        connect_and_announce()  # the server the CLI and the flows use
        OpenAICredentials.register_type_and_schema(_sync=True)  # type: ignore[call-arg]
        saved = save_blocks_from_env(
            openai_name=args.openai_block,
            aws_name=args.aws_block,
            bucket_name=args.s3_block,
            include_openai=not args.skip_openai,
            cache_name=args.cache_block,
        )
    except Exception as exc:  # noqa: BLE001 - one readable line instead of a traceback
        print(f"✗ Could not save blocks: {explain(exc)}", file=sys.stderr)
        return 1
    for block in saved:
        print(f"✓ Saved {block.slug}/{block.name}: {block.summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
