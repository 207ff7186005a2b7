"""The frames of the canonical streams: a run's v1 events, the run feed, the raw log.

Each model is the `data:` of one `event:` name; the route table maps names to models.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from service.views.models.base import ResponseModel, Timestamp, Uuid
from service.views.models.runs import NodeStatusWord, RunStatusWord, WorkflowRunDetail


class V1Ping(ResponseModel):
    content: Literal["ping"]


class V1WorkflowRunContent(ResponseModel):
    workflowRunId: Uuid
    status: RunStatusWord


class V1WorkflowRunFrame(ResponseModel):
    content: V1WorkflowRunContent


class V1ActivityRunContent(ResponseModel):
    workflowRunId: Uuid
    activityRunId: Uuid
    stepId: str
    stepName: str | None
    status: NodeStatusWord
    attempt: int = Field(ge=1)


class V1ActivityRunFrame(ResponseModel):
    content: V1ActivityRunContent


class V1ThinkingFrame(ResponseModel):
    content: str
    stepId: str
    activityRunId: Uuid


class V1ResultFrame(ResponseModel):
    success: Literal[True]
    workflowRun: WorkflowRunDetail


class V1ErrorFrame(ResponseModel):
    error: str
    details: Any


class RunFeedReady(ResponseModel):
    after: int = Field(ge=0, description="The position the feed starts after.")


class RunFeedFrame(ResponseModel):
    workflowRunId: Uuid
    workflowId: Uuid
    status: RunStatusWord
    updatedAt: Timestamp


class RawPing(ResponseModel):
    """The raw log's keepalive: `{}`."""
