"""The reference's shape with no Prefect: load, one Responses call, one put_object, print URLs.

The yardstick for ``process-image`` on one image (bench/single.py times both side by side).
Written here from the reference's description (shared/seed/IMAGE_PROCESSING_UTILS.md); it
reads the same variables as the pipeline: OPENAI_API_KEY, OPENAI_BASE_URL, ARTIFACTS_BUCKET,
AWS_REGION, AWS_ENDPOINT_URL.

Usage: python bench/plain_script.py IMAGE_PATH
"""

from __future__ import annotations

import base64
import io
import os
import sys
import time
from pathlib import Path

import boto3
from openai import OpenAI
from PIL import Image

PROMPT = "Recreate this image exactly as a high-resolution transparent PNG."


def main(path: str) -> None:
    raw = Path(path).expanduser().read_bytes()
    with Image.open(io.BytesIO(raw)) as image:  # the reference checks and converts to PNG
        out = io.BytesIO()
        image.convert("RGBA").save(out, format="PNG")
    data_url = "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")
    response = OpenAI().responses.create(
        model="gpt-5",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": PROMPT},
                    {"type": "input_image", "image_url": data_url, "detail": "high"},
                ],
            }
        ],
        # Opaque: today's default image model refuses "transparent" (docs/models.md), which
        # the pipeline makes by cutting a key colour out; the script stops at the image.
        tools=[{"type": "image_generation", "background": "opaque", "quality": "high"}],
    )
    result = next(item.result for item in response.output if item.type == "image_generation_call")
    generated = base64.b64decode(result or "")
    bucket = os.environ["ARTIFACTS_BUCKET"]
    key = f"generated-images/{int(time.time())}_generated_{Path(path).name}"
    s3 = boto3.client("s3", region_name=os.environ.get("AWS_REGION", "us-east-1"))
    s3.put_object(Bucket=bucket, Key=key, Body=generated, ContentType="image/png")
    print(f"S3 URL:        s3://{bucket}/{key}")
    print(f"Public URL:    https://{bucket}.s3.amazonaws.com/{key}")


if __name__ == "__main__":
    main(sys.argv[1])
