"""Named model endpoints (`[llm_endpoints.NAME]`): an agent node's `endpoint` may be one of
these names instead of a URL, so a deployment's model servers and their keys are set once
by the operator rather than in every workflow definition."""

from __future__ import annotations

import os
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from yarl import URL

ENDPOINT_NAME = r"^[A-Za-z0-9_-]{1,64}$"
EndpointName = Annotated[str, StringConstraints(pattern=ENDPOINT_NAME)]


class LlmEndpoint(BaseModel):
    """One OpenAI-compatible server. Its address obeys the http_request address rules: a
    server on a private or loopback address must be in [engine] http_allow_hosts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="The server's base URL (`.../v1`).")
    api_key_env: str = Field(
        default="",
        description="The environment variable of the runstream process holding the API key "
                    "(sent as a Bearer token); empty: none, or the node's own apiKey.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        url = URL(value)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @field_validator("api_key_env")
    @classmethod
    def _variable_name(cls, value: str) -> str:
        if value and not value.replace("_", "").isalnum():
            raise ValueError(f"{value!r} is not an environment variable name")
        return value

    def api_key(self) -> str | None:
        """The key from the environment now (so a rotated key needs no restart)."""
        return os.environ.get(self.api_key_env) or None if self.api_key_env else None
