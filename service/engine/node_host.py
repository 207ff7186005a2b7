"""What a running node may ask of its run (`NodeHost`), for one run.

Reports and waits go to the run's driver as requests in its inbox, so they are
recorded in the driver's order and are durable before they return; child runs are
the engine's, asked of it directly.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from projections.vocabulary import RunStatus
from service.engine.http_client import HttpClient
from service.engine.messages import EnterWaiting, Report, Request
from service.engine.node_api import ChildOutcome
from service.engine.state import RunState
from service.outcomes import CancelOutcome
from service.workflows.templates import RenderContext, render

if TYPE_CHECKING:
    from service.engine.registry import NodeRegistry


class NodeServices(Protocol):
    """What the engine gives running nodes: its HTTP client, its node types (an agent's
    tools run as them) and child runs (`Engine`)."""

    @property
    def http(self) -> HttpClient: ...

    @property
    def registry(self) -> NodeRegistry: ...

    async def start_child(self, parent: RunState, node_id: str, params: dict[str, Any]) -> str:
        """Start a child run of `parent`'s node `node_id`; its id."""

    async def find_child(self, run_id: str, node_id: str, after: int) -> str | None:
        """The latest child of this node created after log position `after` that did not fail."""

    async def wait(self, run_id: str) -> RunStatus:
        """Wait until the run ends."""

    async def cancel(self, run_id: str, reason: str, by: str) -> CancelOutcome:
        """Cancel a run; the cancel outcome."""

    async def run_state(self, run_id: str) -> RunState:
        """The run folded from its events."""


class RunNodeHost:
    """The `NodeHost` of one run's nodes."""

    def __init__(self, services: NodeServices, state: RunState,
                 submit: Callable[[Request], None]) -> None:
        self._services = services
        self._state = state
        # Into the run driver's inbox. Weakly: the driver holds this host, and a strong
        # reference back would make every finished run a reference cycle, whose state (each
        # node's output) would then wait for the cyclic collector instead of being freed
        # when the run ends; with large outputs that showed as RSS growing run after run.
        self._submit = weakref.WeakMethod(submit)

    @property
    def run_id(self) -> str:
        return self._state.run_id

    @property
    def workspace_id(self) -> str:
        return str(self._state.created.get("workspaceId", ""))

    @property
    def http(self) -> HttpClient:
        return self._services.http

    async def report(self, node_id: str, attempt: int, type_: str, data: dict[str, Any]) -> None:
        request = Report(node_id, attempt, type_, data, asyncio.get_running_loop().create_future())
        self._send(request)
        await request.reply

    def checkpoints(self, node_id: str) -> list[Any]:
        node = self._state.nodes.get(node_id)
        return node.checkpoints if node is not None else []

    async def enter_waiting(self, node_id: str, attempt: int,
                            prompt: Any) -> tuple[asyncio.Future[dict[str, Any]], str | None]:
        request = EnterWaiting(node_id, attempt, prompt, asyncio.get_running_loop().create_future())
        self._send(request)
        return await request.reply

    def _send(self, request: Request) -> None:
        submit = self._submit()
        if submit is None:  # the driver is gone, so its node tasks were stopped: stop too
            request.reply.cancel()
        else:
            submit(request)

    async def start_child(self, node_id: str, params: dict[str, Any]) -> str:
        return await self._services.start_child(self._state, node_id, params)

    async def find_child(self, node_id: str) -> str | None:
        # Children of this run were created after it, so the search starts there.
        return await self._services.find_child(self.run_id, node_id,
                                               self._state.created_position)

    async def wait_for_child(self, child_id: str) -> ChildOutcome:
        status = await self._services.wait(child_id)
        child = await self._services.run_state(child_id)
        return ChildOutcome(status, child.output, child.error)

    async def cancel_child(self, child_id: str, reason: str, by: str) -> str:
        return await self._services.cancel(child_id, reason, by)

    def node_type(self, name: str) -> Any:
        return self._services.registry.get(name)

    def render_args(self, value: Any, args: Mapping[str, Any]) -> Any:
        # Only `args` is left to render: the rest was rendered with the node's params.
        return render(value, RenderContext({}, {}, {}, args=args))
