"""Workflow answers: a stored version of a definition."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from service.views.models.base import ResponseModel, Timestamp, Uuid


class Workflow(ResponseModel):
    id: Uuid
    workspaceId: str = Field(description="`default` or a UUID.")
    name: str
    version: int = Field(ge=1, description="The version shown.")
    latestVersion: int = Field(ge=1)
    definition: dict[str, Any] = Field(description=(
        "The definition as it was saved (a version saved under older rules is shown as it "
        "is; see WorkflowDefinition for what a save accepts today)."))
    createdBy: str | None = Field(description="User id.")
    createdAt: Timestamp
    updatedAt: Timestamp


class WorkflowDetail(Workflow):
    versions: list[int] = Field(description="Every stored version number.")
