"""The answer to a decision on an agent's tool call."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from service.views.models.base import ResponseModel


class ToolCallDecided(ResponseModel):
    id: str = Field(description="The tool call's id (the model's, or one made up for it).")
    nodeId: str
    decision: Literal["approve", "reject"]
