"""The chat dialect's answers (seeds 000 and 001): chats, chat runs and stream frames."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, RootModel

from service.dialects.chat import RUN_COMPLETED_STATUSES, RUN_STATUS_WORDS, STEP_STATUS_WORDS
from service.views.models.base import ResponseModel, Timestamp, Uuid, one_of

if TYPE_CHECKING:
    ChatRunStatus = str
    ChatStepStatus = str
    ChatCompletedStatus = str
else:
    ChatRunStatus = one_of(RUN_STATUS_WORDS.values())
    ChatStepStatus = one_of(STEP_STATUS_WORDS.values())
    ChatCompletedStatus = one_of(RUN_COMPLETED_STATUSES)


class Chat(ResponseModel):
    id: Uuid
    ownerId: Uuid
    title: str
    createdAt: Timestamp


class ChatStep(ResponseModel):
    id: str = Field(description="The node id.")
    status: ChatStepStatus
    startedAt: Timestamp | None
    completedAt: Timestamp | None


class ChatRun(ResponseModel):
    id: Uuid
    chatId: Uuid
    workflowId: Uuid
    status: ChatRunStatus
    startedAt: Timestamp | None
    completedAt: Timestamp | None
    steps: list[ChatStep]


class ChatRunList(ResponseModel):
    workflowRuns: list[ChatRun]


class ChatRunStarted(ResponseModel):
    type: Literal["run_started"]
    runId: Uuid
    workflowId: Uuid


class ChatStepStarted(ResponseModel):
    type: Literal["step_started"]
    stepId: str
    toolId: str | None = Field(description="The node type.")


class ChatStepProgress(ResponseModel):
    type: Literal["step_progress"]
    stepId: str
    progress: float | None
    message: str


class ChatStepCompleted(ResponseModel):
    type: Literal["step_completed"]
    stepId: str
    result: Any


class ChatStepFailed(ResponseModel):
    type: Literal["step_failed"]
    stepId: str
    error: str | None


class ChatRunCompleted(ResponseModel):
    type: Literal["run_completed"]
    runId: Uuid
    status: ChatCompletedStatus


class ChatRunFailed(ResponseModel):
    type: Literal["run_failed"]
    runId: Uuid
    error: str | None


class ChatStreamFrame(RootModel[Annotated[
    ChatRunStarted | ChatStepStarted | ChatStepProgress | ChatStepCompleted | ChatStepFailed
    | ChatRunCompleted | ChatRunFailed, Field(discriminator="type")]]):
    """A data-only frame of a chat run stream (seed 000), told apart by `type`."""
