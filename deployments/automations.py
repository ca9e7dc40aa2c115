"""Apply deployments/automations/image-failed-webhook.yaml: a webhook called per failed image.

    uv run python -m deployments.automations --webhook-url https://example.com/hooks/images

Saves a Prefect ``Webhook`` block (POST, ``Content-Type: application/json``) with the URL,
puts its id in the automation's call-webhook action (the YAML cannot name a block but by
id) and creates the automation, replacing one of the same name, on the server runs use
(PREFECT_API_URL, else the background server). Webhook URLs on private or loopback
addresses are refused when called unless --allow-private-url is given.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit
from uuid import UUID

import yaml  # type: ignore[import-untyped]  # PyYAML ships no stubs; prefect depends on it
from prefect.blocks.webhook import Webhook
from prefect.client.orchestration import get_client
from prefect.events.schemas.automations import AutomationCore
from prefect.types import SecretDict
from pydantic import SecretStr

from prefect_image_pipeline.cli.console import say

IMAGE_FAILED_WEBHOOK = Path(__file__).resolve().parent / "automations" / "image-failed-webhook.yaml"
BLOCK_NAME = "image-failed-webhook"


def automation_from_file(
    path: Path, block_document_id: UUID, name: str | None = None
) -> AutomationCore:
    """The automation the file describes, calling the block ``block_document_id``."""
    document = cast(dict[str, Any], yaml.safe_load(path.read_text(encoding="utf-8")))
    for action in document.get("actions", []):
        if action.get("type") == "call-webhook":
            action["block_document_id"] = str(block_document_id)
    if name:
        document["name"] = name
    return AutomationCore.model_validate(document)


def webhook_block(url: str, *, allow_private_url: bool = False) -> Webhook:
    """A POST of a JSON body to ``url``."""
    return Webhook(
        method="POST",
        url=SecretStr(url),
        headers=SecretDict({"Content-Type": "application/json"}),
        allow_private_urls=allow_private_url,
    )


async def apply(
    webhook: Webhook,
    *,
    block_name: str = BLOCK_NAME,
    path: Path = IMAGE_FAILED_WEBHOOK,
    name: str | None = None,
) -> tuple[str, UUID]:
    """Save the block, then create the automation in place of any of its name: (name, id)."""
    block_id = await webhook.asave(block_name, overwrite=True)
    automation = automation_from_file(path, block_id, name)
    async with get_client() as client:
        for old in await client.read_automations_by_name(automation.name):
            await client.delete_automation(old.id)
        return automation.name, await client.create_automation(automation)


def main(argv: Sequence[str] | None = None) -> int:
    """Apply the automation; 0 when created."""
    parser = argparse.ArgumentParser(prog="python -m deployments.automations", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--webhook-url", required=True, help="where each failed image is POSTed")
    parser.add_argument(
        "--allow-private-url",
        action="store_true",
        help="let the webhook call a private or loopback address (an internal endpoint)",
    )
    parser.add_argument("--block-name", default=BLOCK_NAME, help="the Webhook block's name")
    parser.add_argument("--name", default=None, help="the automation's name (default: the file's)")
    parser.add_argument("--file", type=Path, default=IMAGE_FAILED_WEBHOOK, help="the automation")
    args = parser.parse_args(argv)
    url = urlsplit(args.webhook_url)
    if url.scheme not in ("http", "https") or not url.netloc:
        parser.error("--webhook-url must be an http(s) URL, e.g. https://example.com/hooks/images")

    from prefect_image_pipeline.cli.server import connect_and_announce

    if connect_and_announce().mode == "ephemeral":
        say(
            "IMAGE_PIPELINE_EPHEMERAL_SERVER is set: an automation on Prefect's temporary "
            "server would be gone when this command ends. Unset it, or set PREFECT_API_URL "
            "to the server your runs use."
        )
        return 2
    webhook = webhook_block(args.webhook_url, allow_private_url=args.allow_private_url)
    name, automation_id = asyncio.run(
        apply(webhook, block_name=args.block_name, path=args.file, name=args.name)
    )
    say(
        f"Created automation {name!r} ({automation_id}), calling Webhook block "
        f"{args.block_name!r} for each image-pipeline.image.failed event. "
        f"Inspect it with `prefect automation inspect {name!r}`; remove it with "
        f"`prefect automation delete {name!r}`."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
