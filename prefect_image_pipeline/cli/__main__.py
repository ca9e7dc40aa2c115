"""``python -m prefect_image_pipeline.cli``: process-image, as its console script runs it."""

from prefect_image_pipeline.cli.process import console_main

if __name__ == "__main__":
    console_main()
