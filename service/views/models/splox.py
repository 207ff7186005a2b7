"""The Splox dialect's answers (seed 003): workflow_request, node_execution, listen frames."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, RootModel

from service.dialects.splox import NODE_STATUS_WORDS, RUN_STATUS_WORDS
from service.views.models.base import Count, ResponseModel, Timestamp, Uuid, one_of

if TYPE_CHECKING:
    RequestStatus = str
    NodeExecutionStatus = str
else:
    RequestStatus = one_of(RUN_STATUS_WORDS.values())
    NodeExecutionStatus = one_of(NODE_STATUS_WORDS.values())


class SploxRequestMetadata(ResponseModel):
    workflow_id: Uuid
    workflow_name: str | None
    workflow_version: int = Field(ge=1)


class SploxWorkflowRequest(ResponseModel):
    id: Uuid
    workflow_version_id: Uuid
    start_node_id: str | None
    status: RequestStatus
    created_at: Timestamp
    user_id: str | None
    billing_user_id: str | None
    parent_node_execution_id: Uuid | None
    parent_workflow_request_id: Uuid | None
    chat_id: Uuid | None
    payload: dict[str, Any]
    metadata: SploxRequestMetadata
    started_at: Timestamp | None
    completed_at: Timestamp | None


class SploxNodeExecution(ResponseModel):
    id: Uuid
    workflow_request_id: Uuid
    node_id: str
    workflow_version_id: Uuid
    status: NodeExecutionStatus
    input_data: Any
    output_data: Any
    attempt_count: Count
    created_at: Timestamp
    completed_at: Timestamp | None
    failed_at: Timestamp | None


class SploxMessage(ResponseModel):
    """The objects as they were at that point of the log; run events carry only the
    workflow_request."""

    workflow_request: SploxWorkflowRequest
    node_execution: SploxNodeExecution | None = None


class SploxKeepalive(RootModel[Literal["keepalive"]]):
    """`data: keepalive` while idle (not JSON: the word itself)."""
