"""OpenAI credentials as a Prefect block: the key is a SecretStr, masked in the UI and API."""

from __future__ import annotations

from typing import Any

import openai
from prefect.blocks.core import Block
from pydantic import Field, SecretStr


class OpenAICredentials(Block):
    """An OpenAI API key, with optional base URL, organization and project.

    Example:
        ```python
        from blocks import OpenAICredentials

        client = OpenAICredentials.load("openai").get_client()
        ```
    """

    _block_type_name = "OpenAI Credentials"
    _block_type_slug = "openai-credentials"
    _description = (
        "API key (and optional endpoint) used by the image pipeline to call OpenAI."
    )
    _logo_url = None
    _documentation_url = None

    api_key: SecretStr = Field(description="OpenAI API key (sk-...).")
    base_url: str | None = Field(
        default=None,
        description="API base URL, e.g. a proxy or a local fake; defaults to OpenAI's.",
    )
    organization: str | None = Field(
        default=None, description="OpenAI organization id."
    )
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
