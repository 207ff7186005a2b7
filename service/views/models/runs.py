"""Workflow-run answers of /api/v1: runs, activity runs, cancel outcomes, counts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, create_model

from service.dialects.v1 import NODE_STATUS_WORDS, RUN_STATUS_WORDS
from service.outcomes import CANCEL_OUTCOME_MEANINGS, CancelOutcome
from service.views.models.base import Count, ResponseModel, Timestamp, Uuid, one_of

if TYPE_CHECKING:
    RunStatusWord = str
    NodeStatusWord = str
    CancelOutcomeWord = str
else:
    RunStatusWord = one_of(RUN_STATUS_WORDS.values())
    NodeStatusWord = one_of(NODE_STATUS_WORDS.values())
    CancelOutcomeWord = one_of(outcome.value for outcome in CancelOutcome)


class ActivityRun(ResponseModel):
    id: Uuid
    stepId: str = Field(description="The node id.")
    stepName: str | None
    stepType: str | None
    status: NodeStatusWord
    outputs: Any = Field(description="The node's output (any JSON), null until it has one.")
    error: Any = Field(description="The node's error (text or object), or null.")
    attempt: int = Field(ge=0, description="Retry attempt, from 1.")
    progress: float | None
    durationMs: Count | None
    createdAt: Timestamp
    updatedAt: Timestamp
    toolCalls: list[dict[str, Any]] | None = Field(None, description=(
        "Agent nodes only: each tool call's id, name, args, status (waiting_approval, "
        "running, completed, rejected, failed), output and error; before the node "
        "completes, the calls that already ran."))


class RunInput(ResponseModel):
    name: str
    value: Any


class TriggeredBy(ResponseModel):
    """What started the run: a caller of the API, a schedule or a webhook (with its id)."""

    kind: Literal["api", "schedule", "webhook"]
    id: Uuid | None


class WorkflowRun(ResponseModel):
    id: Uuid
    workflowId: Uuid
    workflowName: str | None
    workflowVersion: int = Field(ge=1)
    workspaceId: str
    chatId: Uuid | None
    parentRunId: Uuid | None
    status: RunStatusWord
    inputs: list[RunInput] = Field(description="Input values by name.")
    outputs: Any = Field(description=(
        "The run's output: the outputs of the nodes with no successors, by node id; null "
        "until it ends."))
    error: Any = Field(description="Why the run failed, or null.")
    cancelReason: str | None
    createdBy: str | None = Field(description="User id.")
    triggeredBy: TriggeredBy
    createdAt: Timestamp
    startedAt: Timestamp | None
    updatedAt: Timestamp
    finishedAt: Timestamp | None


class RerunLink(ResponseModel):
    runId: Uuid = Field(description="The run this one reruns.")
    fromNode: str | None = Field(description="The node it started from; null: all of it.")


class WorkflowRunDetail(WorkflowRun):
    activityRuns: list[ActivityRun]
    rerunOf: RerunLink | None = Field(description="Set on a rerun: what it repeats.")
    reruns: list[Uuid] = Field(description="The reruns of this run, oldest first.")


class RunCancelOutcome(ResponseModel):
    runId: Uuid
    status: CancelOutcomeWord = Field(description="; ".join(
        f"{outcome} ({meaning})" for outcome, meaning in CANCEL_OUTCOME_MEANINGS.items()))
    message: str | None = None


class CancelResult(ResponseModel):
    results: list[RunCancelOutcome]


# Every status word, each a count (an object, as v1 clients read it).
StatusCounts = create_model(
    "StatusCounts", __base__=ResponseModel,
    **{word: (Count, ...) for word in RUN_STATUS_WORDS.values()})  # type: ignore[call-overload]


class DashboardCounts(ResponseModel):
    workflowId: Uuid
    total: Count
    counts: StatusCounts = Field(description="Runs by status word.")  # type: ignore[valid-type]
