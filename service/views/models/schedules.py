"""Schedule answers: the schedule, its next fire times and its last runs."""

from __future__ import annotations

from typing import Annotated

from pydantic import WithJsonSchema

from service.views.models.base import JsonObject, ResponseModel, Timestamp, Uuid
from service.views.models.runs import RunStatusWord
from service.views.schedule_requests import CatchUp, Overlap

OffsetTime = Annotated[str, WithJsonSchema({
    "type": "string", "format": "date-time",
    "description": "ISO 8601 with the schedule's time zone offset."})]


class ScheduleRun(ResponseModel):
    runId: Uuid
    fireTime: Timestamp
    status: RunStatusWord
    createdAt: Timestamp


class Schedule(ResponseModel):
    id: Uuid
    workflowId: Uuid
    workspaceId: str
    cron: str
    timezone: str
    inputs: JsonObject
    enabled: bool
    overlap: Overlap
    catchUp: CatchUp
    startAt: Timestamp | None
    endAt: Timestamp | None
    createdAt: Timestamp
    updatedAt: Timestamp
    nextFireTimes: list[OffsetTime]
    lastRuns: list[ScheduleRun]


class ScheduleDeleted(ResponseModel):
    id: Uuid
    deleted: bool
