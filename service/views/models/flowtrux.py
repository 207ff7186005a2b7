"""The FlowTrux dialect's answers (seed 002): the execute result and the stream's frames."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from service.dialects.flowtrux import NODE_STATUS_WORDS
from service.views.models.base import Count, ResponseModel, Timestamp, Uuid, one_of

if TYPE_CHECKING:
    ExecutionStatus = str
else:
    ExecutionStatus = one_of(NODE_STATUS_WORDS.values())


class FlowTruxTerminal(ResponseModel):
    success: bool
    executionId: Uuid
    error: str | None
    cancelled: bool


class FlowTruxExecutionLog(ResponseModel):
    """A node's execution log."""

    nodeId: str
    nodeName: str | None
    nodeType: str | None
    status: ExecutionStatus
    input: Any
    output: Any
    durationMs: Count | None
    error: str | None
    attempt: Count
    # Debug fields of nodes that call a model (agent), absent for every other node.
    llmRequest: dict[str, Any] | None = Field(None, description=(
        "Agent nodes: endpoint, model, messages and parameters (never the API key)."))
    toolCalls: list[dict[str, Any]] | None = Field(None, description=(
        "Agent nodes: each tool call's id, name, args, status, result or error, durationMs."))
    usage: dict[str, Any] | None = Field(None, description="Agent nodes: the summed usage.")


class FlowTruxResult(FlowTruxTerminal):
    status: str = Field(description="complete, error or cancelled once finished.")
    output: Any
    logs: list[FlowTruxExecutionLog]


class FlowTruxStart(ResponseModel):
    workflowId: Uuid
    workflowName: str | None
    timestamp: Timestamp


class FlowTruxNodeStart(ResponseModel):
    nodeId: str
    nodeName: str | None
    nodeType: str | None
