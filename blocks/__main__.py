"""``python -m blocks``: save the pipeline's blocks from the environment (cli.blocks)."""

import sys

from prefect_image_pipeline.cli.blocks import main

if __name__ == "__main__":
    sys.exit(main())
