"""OpenAI credentials as a Prefect block: the key is a SecretStr, masked in the UI and API."""

from __future__ import annotations

from typing import Any

import openai
from prefect.blocks.core import Block
from pydantic import Field, HttpUrl, SecretStr


class OpenAICredentials(Block):
    """An OpenAI API key, with optional base URL, organization and project.

    Example:
        Load the saved block and build a client:
        ```python
        from blocks import OpenAICredentials

        credentials = OpenAICredentials.load("BLOCK_NAME")
        client = credentials.get_client()
        ```
    """

    # A slug of our own: prefect-openai registers "openai-credentials" with other fields.
    _block_type_name = "Image Pipeline OpenAI Credentials"
    _block_type_slug = "image-pipeline-openai-credentials"
    _description = "API key (and optional endpoint) used by the image pipeline to call OpenAI."
    _logo_url = HttpUrl(
        "https://cdn.sanity.io/images/3ugk85nk/production/"
        "760539393a7dbf93a143fb01c2a8b0fe7157a8d8-247x250.png"
    )
    _documentation_url = HttpUrl("https://platform.openai.com/docs/api-reference/authentication")

    api_key: SecretStr = Field(description="OpenAI API key (sk-...).")
    base_url: str | None = Field(
        default=None,
        description="API base URL, e.g. a proxy or a local fake; defaults to OpenAI's.",
    )
    organization: str | None = Field(default=None, description="OpenAI organization id.")
    project: str | None = Field(default=None, description="OpenAI project id.")

    def get_client(self, **client_options: Any) -> openai.OpenAI:
        """An ``openai.OpenAI`` client with these credentials (extra options pass through)."""
        return openai.OpenAI(
            api_key=self.api_key.get_secret_value(),
            base_url=self.base_url or None,
            organization=self.organization or None,
            project=self.project or None,
            **client_options,
        )
