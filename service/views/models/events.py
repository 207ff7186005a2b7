"""The raw log's answers: events and the verification of their hash chain."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from service.views.models.base import Count, ResponseModel, Timestamp


class Event(ResponseModel):
    """One event of the tamper-evident log."""

    position: int = Field(ge=1, description="Global log position.")
    stream: str = Field(description="The run id (stream) the event belongs to.")
    version: int = Field(ge=1, description="Position within its stream.")
    type: str
    data: dict[str, Any] | None = Field(description=(
        "The event's data; null when retention or erasure removed it (see `pruned`)."))
    recordedAt: Timestamp
    prevHash: str
    hash: str
    pruned: bool = Field(False, description=(
        "Present (true) when the data was pruned: the header stays, so the chain still "
        "verifies (docs/retention.md)."))


class LogVerification(ResponseModel):
    ok: bool = Field(description="Every link of the chain holds.")
    checked: Count = Field(description="Events checked.")
    head: Count = Field(description="The log's last position.")
    headHash: str | None = Field(description=(
        "The hash of the last event when ok: keep it elsewhere, truncating the newest "
        "events is only detectable against a head kept elsewhere."))
    firstBadPosition: int | None = Field(ge=1)
    reason: str | None
    verifiedAt: Timestamp

