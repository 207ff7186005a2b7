"""`subworkflow`: a child run linked by parentRunId/parentNodeId; its outcome is the node's."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from pydantic import Field, model_validator

from projections.vocabulary import RunStatus
from service.engine.node_api import NodeContext, NodeError, NodeType
from service.engine.params import ParamsModel, templated


class SubworkflowParams(ParamsModel):
    workflowId: str | None = Field(None, description="The child workflow's id.")
    workflow: str | None = Field(None, description="Or its name, in the same workspace.")
    version: templated(Annotated[int, Field(gt=0)]) | None = Field(  # type: ignore[valid-type]
        None, description="The version to run; the latest when absent.")
    inputs: templated(dict[str, Any]) = Field(  # type: ignore[valid-type]
        default_factory=dict, description="The child run's inputs (rendered).")

    @model_validator(mode="after")
    def names_a_workflow(self) -> SubworkflowParams:
        if not (self.workflowId or self.workflow):
            raise ValueError("subworkflow needs params.workflowId or params.workflow (a name)")
        return self


class Subworkflow(NodeType):
    """params: `workflowId` or `workflow` (a name in the same workspace), optional `version`,
    `inputs` (rendered). The child gets the parent's env values. Output: the child's output.

    Cancelling the parent (or its failing or timing out) cancels the child; the child
    failing fails the node. After a restart the node adopts the child its interrupted
    attempt started instead of starting another.
    """

    uses_default_timeout = False

    params_model = SubworkflowParams

    async def run(self, params: dict[str, Any], inputs: dict[str, Any], ctx: NodeContext) -> Any:
        child = None
        if ctx.attempt > 1:
            child = await ctx.find_child()
        if child is None:
            child = await ctx.start_child(params)
        try:
            outcome = await ctx.wait_for_child(child)
        except asyncio.CancelledError:
            if ctx.cancel_reason is not None:
                # Only a run that is ending takes its child with it; on shutdown the
                # child stays unfinished and is recovered with its parent.
                await ctx.cancel_child(child, ctx.cancel_reason.get("reason") or "parent ended",
                                       ctx.cancel_reason.get("by") or "system")
            raise
        if outcome.status == RunStatus.COMPLETED:
            return outcome.output
        raise NodeError(f"child run {child} {outcome.status}: {outcome.error}", retryable=True)
