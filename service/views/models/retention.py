"""Retention answers: a workspace's policy and what it last pruned, an erasure, a pruned run."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from service.views.models.base import Count, ResponseModel, Timestamp, Uuid


class LastPruned(ResponseModel):
    prunedAt: Timestamp
    runs: Count
    events: Count
    archive: str | None = Field(description="The archive file (in archive_dir) holding them.")
    position: int = Field(description="The log position of the EventsPruned recording it.")


class Retention(ResponseModel):
    workspaceId: str
    source: Literal["workspace", "default"] = Field(description=(
        "`workspace`: its own policy; `default`: the service-wide default of the settings."))
    maxAgeDays: float | None
    maxRuns: int | None
    maxBytes: int | None
    lastPruned: LastPruned | None = Field(description=(
        "The last prune retention made of this workspace's runs (null: none yet)."))


class Erasure(ResponseModel):
    runId: Uuid
    runs: list[Uuid] = Field(description="The run and every run below it, now erased.")
    events: Count
    position: int | None = Field(description=(
        "The log position of the EventsPruned recording it (null: nothing was left)."))
