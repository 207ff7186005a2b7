"""A run's stream as its driver writes it: one round's events, committed in one append.

Each event is folded into the run's state as it is emitted, so the round's later
decisions see it; `commit` appends the round with `expected_version`, then runs what
had to wait until the events were durable (starting node tasks, answering requests).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventstore.interface import EventStore
from eventstore.leases import Fence
from eventstore.records import NewEvent, utc_now
from service.engine.secrets import Redactor
from service.engine.state import RunState
from service.workflows.definition import WorkflowDefinition


class RunLog:
    def __init__(self, store: EventStore, state: RunState, definition: WorkflowDefinition,
                 redact: Redactor, fence: Fence | None = None) -> None:
        self.store = store
        self.fence = fence  # the run's lease, on a log several nodes share
        self.state = state
        self.definition = definition
        self.redact = redact
        self.committed = state.version
        self._pending: list[NewEvent] = []
        self._after_commit: list[Callable[[], None]] = []

    def emit(self, type_: str, data: dict[str, Any]) -> None:
        """Add a run event to the round (secrets redacted) and fold it into the state."""
        data = self.redact(data)
        self._pending.append(NewEvent(type_, data))
        self.state.apply(type_, data, utc_now())

    def emit_node(self, type_: str, node_id: str, **fields: Any) -> None:
        """Add an event of one node, named by its id, name and type."""
        node = self.definition.nodes[node_id]
        self.emit(type_, {"nodeId": node_id, "nodeName": node.name, "nodeType": node.type,
                          **fields})

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the round's events are durable."""
        self._after_commit.append(callback)

    async def commit(self) -> None:
        """Append the round's events (if any), then run its after-commit callbacks."""
        events, self._pending = self._pending, []
        callbacks, self._after_commit = self._after_commit, []
        if events:
            recorded = await self.store.append(self.state.run_id, events, self.committed,
                                               self.fence)
            self.committed = recorded[-1].version
        for callback in callbacks:
            callback()
