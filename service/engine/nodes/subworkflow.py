"""`subworkflow`: a child run linked by parentRunId/parentNodeId; its outcome is the node's."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from projections.vocabulary import RunStatus
from service.engine.context import NodeContext
from service.engine.registry import NodeError, NodeType


class Subworkflow(NodeType):
    """params: `workflowId` or `workflow` (a name in the same workspace), optional `version`,
    `inputs` (rendered). The child gets the parent's env values. Output: the child's output.

    Cancelling the parent (or its failing or timing out) cancels the child; the child
    failing fails the node. After a restart the node adopts the child its interrupted
    attempt started instead of starting another.
    """

    uses_default_timeout = False

    def check(self, params: Mapping[str, Any]) -> list[str]:
        if not isinstance(params.get("workflowId") or params.get("workflow"), str):
            return ["subworkflow needs params.workflowId or params.workflow (a name)"]
        inputs = params.get("inputs", {})
        if not isinstance(inputs, Mapping) and not (isinstance(inputs, str) and "{{" in inputs):
            return ["subworkflow inputs must be an object"]
        return []

    async def run(self, params: dict[str, Any], inputs: dict[str, Any], ctx: NodeContext) -> Any:
        engine = ctx.engine
        child = None
        if ctx.attempt > 1:
            child = await engine.find_child(ctx.run_id, ctx.node_id, ctx.child_lookup_after())
        if child is None:
            child = await engine.start_child(ctx, params)
        try:
            status = await engine.wait(child)
        except asyncio.CancelledError:
            if ctx.cancel_reason is not None:
                # Only a run that is ending takes its child with it; on shutdown the
                # child stays unfinished and is recovered with its parent.
                await engine.cancel(child, ctx.cancel_reason.get("reason") or "parent ended",
                                    ctx.cancel_reason.get("by") or "system")
            raise
        state = await engine.run_state(child)
        if status == RunStatus.COMPLETED:
            return state.output
        raise NodeError(f"child run {child} {status}: {state.error}", retryable=True)
