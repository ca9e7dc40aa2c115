"""The image tool's flags of ``process-image``: one per option, choices from the openai SDK.

Each flag's destination is the option's name in options.parameters, so the CLI hands the
flows exactly the parameters the UI form and ``prefect deployment run -p`` would.
"""

from __future__ import annotations

import argparse

from prefect_image_pipeline.options.generation import APIS
from prefect_image_pipeline.options.sdk import choices
from prefect_image_pipeline.settings.config import DEFAULT_DETAIL, DEFAULT_OUTPUT_FORMAT


def add_tool_flags(parser: argparse.ArgumentParser) -> None:
    """--image-model, --size, --output-format and the image tool's other options."""
    tool = parser.add_argument_group("image tool options (default: OpenAI's, unless given)")
    models = ", ".join(choices("image_model")[:4])
    tool.add_argument(
        "--image-model", metavar="MODEL", help=f"Image model of the tool (e.g. {models}, ...)"
    )
    tool.add_argument("--size", help="auto or WIDTHxHEIGHT, e.g. 1536x1024")
    tool.add_argument(
        "--output-format",
        default=DEFAULT_OUTPUT_FORMAT,
        choices=choices("output_format"),
        help="Format of the generated image (default: %(default)s)",
    )
    tool.add_argument(
        "--output-compression", type=int, metavar="0-100", help="webp and jpeg compression"
    )
    tool.add_argument("--input-fidelity", choices=choices("input_fidelity"))
    tool.add_argument("--moderation", choices=choices("moderation"))
    tool.add_argument("--action", choices=choices("action"))
    tool.add_argument(
        "--complexity",
        choices=choices("complexity"),
        help="Planning effort of the image model, apart from --quality",
    )
    tool.add_argument(
        "--detail",
        default=DEFAULT_DETAIL,
        choices=choices("detail"),
        help="Detail at which OpenAI reads the input images (default: %(default)s)",
    )
    tool.add_argument(
        "--reference",
        dest="reference_images",
        action="append",
        metavar="IMAGE",
        help="Extra image sent after the input (URL, s3://, path or file-… id); repeat for more",
    )
    tool.add_argument(
        "--mask", metavar="PNG", help="Inpainting mask: a PNG whose transparent areas are redone"
    )
    tool.add_argument(
        "--api",
        choices=APIS,
        help="OpenAI endpoint: the Responses API's image tool, or the Images API "
        "(images.edit: no main model, no --moderation/--action) (default: responses; "
        "images with --batch-api)",
    )
    tool.add_argument(
        "--fallback-background",
        action="store_true",
        help="If the image model cannot make transparency, make the image opaque instead of "
        "cutting the background out locally",
    )
