"""What a running node sees of the engine: progress, thinking, waiting, cancellation."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from projections.vocabulary import EventType

if TYPE_CHECKING:
    from service.engine.engine import Engine
    from service.engine.runner import RunActor


class NodeContext:
    """Handed to `NodeType.run`; every report is durable before the call returns."""

    def __init__(self, actor: RunActor, node_id: str, attempt: int) -> None:
        self._actor = actor
        self.run_id = actor.run_id
        self.node_id = node_id
        self.attempt = attempt
        node = actor.definition.nodes[node_id]
        self.node_name = node.name
        self.node_type = node.type
        self.workspace_id: str = actor.state.created.get("workspaceId", "")
        # Set by the engine before it cancels the node because the run is ending
        # (cancel, timeout, a failed sibling); None when the engine is only shutting down.
        self.cancel_reason: dict[str, Any] | None = None

    @property
    def engine(self) -> Engine:
        return self._actor.engine

    async def progress(self, pct: float, message: str = "") -> None:
        """Report progress 0-100 with a short message."""
        pct = max(0.0, min(100.0, float(pct)))
        await self._actor.report(self.node_id, self.attempt, EventType.NODE_PROGRESS,
                                 {"progress": round(pct, 1), "message": str(message)})

    async def thinking(self, text: str) -> None:
        """Report a piece of thinking text (streamed to clients as it comes)."""
        await self._actor.report(self.node_id, self.attempt, EventType.NODE_THINKING,
                                 {"text": str(text)})

    async def wait_for_resume(
        self, prompt: Any, timeout_ms: int | None = None
    ) -> dict[str, Any]:
        """Put the node (and run) in `waiting` until `Engine.resume`; returns {by, data, approved}.

        Survives restarts: a node already waiting keeps waiting (its timeout counts
        from when it first waited); one already resumed returns at once.
        """
        answer, waiting_since = await self._actor.enter_waiting(self.node_id, self.attempt, prompt)
        if timeout_ms is None:
            return await answer
        remaining = self._actor.remaining_s(waiting_since, timeout_ms)
        try:
            return await asyncio.wait_for(answer, max(remaining, 0.0))
        except TimeoutError:
            from service.engine.registry import NodeError

            raise NodeError(f"no answer within {timeout_ms} ms", retryable=False) from None

    def child_lookup_after(self) -> int:
        """Log position after which this run's child runs were created."""
        return self._actor.state.created_position
