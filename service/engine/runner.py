"""One run's driver: owns the run's stream, folds every event it writes, schedules nodes.

Each round: handle the messages that arrived (node results, reports, cancel,
resume), plan (start ready nodes, skip unreachable ones, finish the run), then
commit everything the round produced in one append with `expected_version`.
Node tasks start only after their NodeStarted is durable, so recovery always
knows which attempt was in flight. Pure nodes (noop, transform, condition, fail)
run inline: their NodeStarted and NodeCompleted share one commit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol

import orjson
import structlog

from eventstore.records import NewEvent
from eventstore.sqlite import SQLiteEventStore, utc_now
from projections.vocabulary import EventType, NodeStatus, RunStatus
from service.engine.attempt import run_attempt
from service.engine.http_client import HttpClient
from service.engine.messages import (
    AttemptDone,
    AttemptFailed,
    Cancel,
    EnterWaiting,
    Message,
    Report,
    Request,
    Resume,
    RetryDue,
    cancel_outcome,
)
from service.engine.node_api import ChildOutcome, NodeContext, NodeError, epoch_seconds
from service.engine.registry import NodeRegistry
from service.engine.secrets import Redactor
from service.engine.settings import EngineSettings
from service.engine.state import SETTLED, RunState
from service.workflows.definition import WorkflowDefinition
from service.workflows.repository import Workflow
from service.workflows.templates import MAX_VALUE_DEPTH, RenderContext, nesting_depth, render

log = structlog.get_logger(__name__)
IN_FLIGHT = frozenset({NodeStatus.RUNNING, NodeStatus.WAITING})
# Room left in an event beside a node's input or output (ids, names, attempt, ...), so a
# value that `unstorable` lets through always fits in the event that carries it.
EVENT_FIELDS_ALLOWANCE = 16 * 1024
# Error texts are messages, not documents: longer ones are cut (and say so).
MAX_ERROR_CHARS = 4000


class RunHost(Protocol):
    """What a run's driver needs of the engine that hosts it (implemented by `Engine`)."""

    @property
    def store(self) -> SQLiteEventStore: ...

    @property
    def settings(self) -> EngineSettings: ...

    @property
    def registry(self) -> NodeRegistry: ...

    @property
    def http(self) -> HttpClient: ...

    async def start_child(self, parent: RunState, node_id: str, params: dict[str, Any]) -> str:
        """Start a child run of `parent`'s node `node_id`; its id."""

    async def find_child(self, run_id: str, node_id: str, after: int) -> str | None:
        """The latest child of this node created after log position `after` that did not fail."""

    async def wait(self, run_id: str) -> RunStatus:
        """Wait until the run ends."""

    async def cancel(self, run_id: str, reason: str, by: str) -> str:
        """Cancel a run; the cancel outcome."""

    async def run_state(self, run_id: str) -> RunState:
        """The run folded from its events."""


class RunActor:
    """Drives one run; a running node reaches it as its `NodeHost`."""

    def __init__(self, engine: RunHost, state: RunState, workflow: Workflow,
                 definition: WorkflowDefinition, env: dict[str, str] | None) -> None:
        self.engine = engine
        self.store = engine.store
        self.run_id = state.run_id
        self.state = state
        self.workflow = workflow
        self.definition = definition
        self.env = env
        self.redact = Redactor(env or {})
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.pending: list[NewEvent] = []
        self.after_flush: list[Callable[[], None]] = []
        self.committed = state.version
        self.tasks: dict[str, tuple[asyncio.Task[None], NodeContext]] = {}
        self.retry_timers: dict[str, asyncio.TimerHandle] = {}
        self.answers: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.asked: set[asyncio.Future[Any]] = set()  # futures of `ask` not yet answered
        self.worklist: list[str] = list(definition.nodes)
        self.closed = False
        trigger = state.created.get("trigger") or {}
        self.render_ctx = RenderContext(trigger.get("data") or {}, env or {}, _Outputs(state))

    # -- the loop --------------------------------------------------------------

    async def run(self) -> RunStatus | None:
        try:
            await self.start()
            await self.flush()
            while not self.state.terminal:
                await self.plan()
                await self.flush()
                if self.state.terminal:
                    break
                await self.receive()
                await self.flush()
            return self.state.status
        except BaseException as exc:
            # Shutdown or a store failure: stop the nodes and write nothing more; the
            # run stays unfinished in the log and is recovered on the next start.
            await self.stop_tasks(None)
            if isinstance(exc, Exception):
                # Whoever asked (resume, cancel) waits on a callback of the failed flush:
                # tell them, rather than leave them waiting forever.
                for future in list(self.asked):
                    if not future.done():
                        future.set_exception(exc)
            raise
        finally:
            self.close()

    def close(self) -> None:
        self.closed = True
        for timer in self.retry_timers.values():
            timer.cancel()
        while not self.inbox.empty():
            self.reply_late(self.inbox.get_nowait())

    def reply_late(self, message: Message) -> None:
        """Answer a request that came after the run ended (node results need no answer)."""
        match message:
            case Cancel(reply=reply):
                _resolve(reply, cancel_outcome(self.state.status))
            case Resume(reply=reply):
                _resolve(reply, "not_waiting")
            case Report(reply=reply):
                _resolve(reply, None)
            case EnterWaiting(reply=reply):
                reply.cancel()

    async def start(self) -> None:
        state = self.state
        if state.status == RunStatus.PENDING:
            self.emit(EventType.RUN_STARTED, {})
        if self.env is None:
            if state.created.get("envNames"):
                await self.finish(EventType.RUN_FAILED, {
                    "error": "the run's env values were lost in a restart (no secrets key)"})
                return
            self.env = {}
        if state.cancel_request is not None:
            await self.finish(EventType.RUN_CANCELLED, state.cancel_request)
            return
        for node_id, node in list(state.nodes.items()):
            if node.status == NodeStatus.FAILED:
                await self.finish(EventType.RUN_FAILED, {"error": f"node {node_id} failed"})
                return
            if node.status == NodeStatus.WAITING or (
                node.status == NodeStatus.RUNNING and node.resumed is not None
            ):
                await self.launch(node_id, node.attempt, record_start=False)
            elif node.status == NodeStatus.RUNNING or (
                node.status == NodeStatus.PENDING and node.attempt > 0
            ):
                await self.launch(node_id, node.attempt + 1)  # interrupted or retry due

    async def receive(self) -> None:
        timeout_ms = self.definition.timeout_ms
        deadline = epoch_seconds(self.state.started_at) + timeout_ms / 1000 if timeout_ms else None
        try:
            async with asyncio.timeout(None if deadline is None else
                                       max(0.0, deadline - time.time())):
                message = await self.inbox.get()
        except TimeoutError:
            await self.finish(EventType.RUN_FAILED,
                              {"error": f"run timed out after {timeout_ms} ms"})
            return
        await self.handle(message)
        while not self.inbox.empty():
            await self.handle(self.inbox.get_nowait())

    async def flush(self) -> None:
        events, self.pending = self.pending, []
        callbacks, self.after_flush = self.after_flush, []
        if events:
            recorded = await self.store.append(self.run_id, events, self.committed)
            self.committed = recorded[-1].version
        for callback in callbacks:
            callback()

    def emit(self, type_: str, data: dict[str, Any]) -> None:
        data = self.redact(data)
        self.pending.append(NewEvent(type_, data))
        self.state.apply(type_, data, utc_now())

    def emit_node(self, type_: str, node_id: str, **fields: Any) -> None:
        node = self.definition.nodes[node_id]
        self.emit(type_, {"nodeId": node_id, "nodeName": node.name, "nodeType": node.type,
                          **fields})

    # -- planning ----------------------------------------------------------------

    def readiness(self, node_id: str) -> bool | None:
        """None: a predecessor is not done; True: some incoming edge is taken; False: skip."""
        edges = self.definition.nodes[node_id].after
        taken = not edges
        for edge in edges:
            pred = self.state.nodes.get(edge.node)
            if pred is None or pred.status not in SETTLED:
                return None
            if pred.status == NodeStatus.COMPLETED and (
                edge.branch is None or _branch(pred.output) == edge.branch
            ):
                taken = True
        return taken

    async def plan(self) -> None:
        state, nodes = self.state, self.definition.nodes
        while self.worklist and not state.terminal:
            node_id = self.worklist.pop()
            node = state.nodes.get(node_id)
            if node is not None and (node.status != NodeStatus.PENDING or node.attempt > 0):
                continue
            ready = self.readiness(node_id)
            if ready is None:
                continue
            if ready:
                await self.launch(node_id, 1)
            else:
                self.emit_node(EventType.NODE_SKIPPED, node_id, attempt=0)
                self.worklist.extend(self.definition.successors[node_id])
        if not state.terminal and state.settled == len(nodes) and not self.tasks:
            output = {sink: state.nodes[sink].output for sink in self.definition.sinks
                      if state.nodes[sink].status == NodeStatus.COMPLETED}
            size, limit = len(orjson.dumps(output)), self.engine.settings.max_event_bytes
            if size > limit - EVENT_FIELDS_ALLOWANCE:
                # Every sink's output fit on its own; together they do not.
                await self.finish(EventType.RUN_FAILED, {"error": (
                    f"the run's output (its last nodes' outputs) is {size} bytes, above the "
                    f"limit of one event (max_event_bytes = {limit})")})
                return
            self.emit(EventType.RUN_COMPLETED, {"output": output})

    async def launch(self, node_id: str, attempt: int, record_start: bool = True) -> None:
        node = self.definition.nodes[node_id]
        node_type = self.engine.registry.get(node.type)
        params = render(node.params, self.render_ctx)
        inputs = {e.node: self.state.nodes[e.node].output for e in node.after
                  if self.state.nodes[e.node].status == NodeStatus.COMPLETED}
        if record_start:
            unstorable = self.unstorable("input", params)
            if unstorable is not None:
                # The log could not store this input (nor any response show it): fail the
                # node, which sends the run down its failure path.
                self.emit_node(EventType.NODE_STARTED, node_id, attempt=attempt, input=None)
                await self.failed(node_id, attempt, unstorable, False)
                return
            self.emit_node(EventType.NODE_STARTED, node_id, attempt=attempt, input=params)
        if getattr(node_type, "pure", False) and record_start:
            try:
                output = node_type.run_inline(params, inputs)
            except NodeError as exc:
                await self.failed(node_id, attempt, exc.message, exc.retryable)
            except Exception as exc:
                await self.failed(node_id, attempt, f"{type(exc).__name__}: {exc}", True)
            else:
                await self.completed(node_id, attempt, output, 0)
            return
        self.after_flush.append(lambda: self.spawn(node_id, attempt, node_type, params, inputs))

    def spawn(self, node_id: str, attempt: int, node_type: Any, params: dict[str, Any],
              inputs: dict[str, Any]) -> None:
        if self.state.terminal or self.closed:
            return
        node = self.definition.nodes[node_id]
        ctx = NodeContext(self, node_id, attempt, node.name, node.type)
        task = asyncio.get_running_loop().create_task(
            self.node_task(ctx, node_type, params, inputs), name=f"node:{self.run_id}:{node_id}")
        self.tasks[node_id] = (task, ctx)

    async def node_task(self, ctx: NodeContext, node_type: Any, params: dict[str, Any],
                        inputs: dict[str, Any]) -> None:
        node = self.definition.nodes[ctx.node_id]
        timeout_ms = node.timeout_ms
        if timeout_ms is None and getattr(node_type, "uses_default_timeout", True):
            timeout_ms = self.engine.settings.default_node_timeout_ms
        self.inbox.put_nowait(await run_attempt(ctx, node_type, params, inputs, timeout_ms))

    # -- transitions -------------------------------------------------------------

    def unstorable(self, what: str, value: Any) -> str | None:
        """Why `value` cannot be a node's `what` in the log, or None when it can.

        Checked before the event is emitted: an append the store refuses would stop the
        run's driver for good, where a failed node lets the run take its failure path.
        """
        if nesting_depth(value, MAX_VALUE_DEPTH) > MAX_VALUE_DEPTH:
            return f"the node's {what} nests deeper than {MAX_VALUE_DEPTH} levels"
        limit = self.engine.settings.max_event_bytes
        try:
            size = len(orjson.dumps(value))
        except orjson.JSONEncodeError as exc:
            return f"the node's {what} is not JSON: {exc}"
        if size > limit - EVENT_FIELDS_ALLOWANCE:
            return (f"the node's {what} is {size} bytes, above the limit of one event "
                    f"(max_event_bytes = {limit})")
        return None

    async def completed(self, node_id: str, attempt: int, output: Any, duration_ms: int) -> None:
        unstorable = self.unstorable("output", output)
        if unstorable is not None:
            await self.failed(node_id, attempt, unstorable, False)
            return
        self.emit_node(EventType.NODE_COMPLETED, node_id, attempt=attempt, output=output,
                       durationMs=duration_ms)
        self.worklist.extend(self.definition.successors[node_id])

    async def failed(self, node_id: str, attempt: int, error: str, retryable: bool) -> None:
        # Secrets out first: a cut through one would leave its start behind.
        error = self.redact(error if isinstance(error, str) else str(error))
        if len(error) > MAX_ERROR_CHARS:
            error = f"{error[:MAX_ERROR_CHARS]}... ({len(error) - MAX_ERROR_CHARS} more characters)"
        policy = self.definition.nodes[node_id].retry
        will_retry = retryable and attempt < policy.max_attempts
        self.emit_node(EventType.NODE_FAILED, node_id, attempt=attempt, error=error,
                       willRetry=will_retry)
        if will_retry:
            delay = policy.delay_ms(attempt) / 1000
            self.retry_timers[node_id] = asyncio.get_running_loop().call_later(
                delay, self.inbox.put_nowait, RetryDue(node_id))
        else:
            await self.finish(EventType.RUN_FAILED,
                              {"error": f"node {node_id} failed: {self.redact(error)}"})

    async def finish(self, type_: str, data: dict[str, Any]) -> None:
        """End the run: stop in-flight nodes (recorded as cancelled), then the terminal event."""
        await self.stop_tasks({"reason": data.get("reason") or data.get("error"),
                               "by": data.get("by", "system")})
        for timer in self.retry_timers.values():
            timer.cancel()
        self.retry_timers.clear()
        for node_id, node in self.state.nodes.items():
            if node.status in IN_FLIGHT or (node.status == NodeStatus.PENDING and node.attempt):
                self.emit_node(EventType.NODE_CANCELLED, node_id, attempt=node.attempt)
        self.emit(type_, data)

    async def stop_tasks(self, reason: dict[str, Any] | None) -> None:
        tasks = list(self.tasks.values())
        self.tasks.clear()
        for task, ctx in tasks:
            ctx.cancel_reason = reason
            task.cancel()
        if tasks:
            await asyncio.wait([task for task, _ in tasks])
        for answer in self.answers.values():
            answer.cancel()
        self.answers.clear()

    # -- messages ----------------------------------------------------------------

    async def handle(self, message: Message) -> None:
        if self.state.terminal:
            self.reply_late(message)
            return
        match message:
            case AttemptDone(node_id, attempt, output, duration_ms):
                if self.take_task(node_id, attempt):
                    await self.completed(node_id, attempt, output, duration_ms)
            case AttemptFailed(node_id, attempt, error, retryable):
                if self.take_task(node_id, attempt):
                    await self.failed(node_id, attempt, error, retryable)
            case RetryDue(node_id):
                self.retry_timers.pop(node_id, None)
                node = self.state.nodes[node_id]
                if node.status == NodeStatus.PENDING:
                    await self.launch(node_id, node.attempt + 1)
            case Report():
                self.on_report(message)
            case EnterWaiting():
                self.on_wait(message)
            case Resume():
                self.on_resume(message)
            case Cancel(reason, by, reply):
                self.emit(EventType.RUN_CANCEL_REQUESTED, {"reason": reason, "by": by})
                await self.flush()  # durable before the (possibly slow) stopping of nodes
                await self.finish(EventType.RUN_CANCELLED, {"reason": reason, "by": by})
                self.after_flush.append(lambda: _resolve(reply, "cancelled"))

    def take_task(self, node_id: str, attempt: int) -> bool:
        """Whether an attempt's outcome is current (its node still runs that attempt here)."""
        node = self.state.nodes.get(node_id)
        if node is None or node.status not in IN_FLIGHT or node.attempt != attempt \
                or node_id not in self.tasks:
            return False
        del self.tasks[node_id]
        return True

    def on_report(self, message: Report) -> None:
        node = self.state.nodes.get(message.node_id)
        unstorable = self.unstorable(f"{message.type_} report", message.data)
        if unstorable is not None:
            # The node's own call (progress, thinking) fails, and with it the attempt.
            if not message.reply.done():
                message.reply.set_exception(NodeError(unstorable, retryable=False))
        elif node is not None and node.attempt == message.attempt and node.status in IN_FLIGHT:
            self.emit_node(message.type_, message.node_id, attempt=message.attempt,
                           **message.data)
            self.after_flush.append(lambda: _resolve(message.reply, None))
        else:
            _resolve(message.reply, None)

    def on_wait(self, message: EnterWaiting) -> None:
        node_id, attempt, future = message.node_id, message.attempt, message.reply
        node = self.state.nodes[node_id]
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        if node.attempt != attempt:
            return  # a stale attempt; it is being cancelled
        if node.resumed is not None:
            answer.set_result(node.resumed)
            _resolve(future, (answer, node.waiting_since))
            return
        self.answers[node_id] = answer
        if node.status == NodeStatus.WAITING:
            _resolve(future, (answer, node.waiting_since))
            return
        self.emit_node(EventType.NODE_WAITING, node_id, attempt=attempt, prompt=message.prompt)
        if self.state.status == RunStatus.RUNNING:
            self.emit(EventType.RUN_WAITING, {})
        self.after_flush.append(lambda: _resolve(future, (answer, node.waiting_since)))

    def on_resume(self, message: Resume) -> None:
        node_id, future = message.node_id, message.reply
        node = self.state.nodes.get(node_id)
        if node is None or node.status != NodeStatus.WAITING:
            _resolve(future, "not_waiting")
            return
        self.emit_node(EventType.NODE_RESUMED, node_id, attempt=node.attempt, by=message.by,
                       data=message.data, approved=message.approved)
        if self.state.status == RunStatus.WAITING and not self.state.waiting_nodes():
            self.emit(EventType.RUN_RESUMED, {})

        def deliver() -> None:
            answer = self.answers.pop(node_id, None)
            if answer is not None and node.resumed is not None:
                _resolve(answer, node.resumed)
            _resolve(future, "resumed")

        self.after_flush.append(deliver)

    # -- requests from node tasks (NodeHost) and from the engine ---------------------

    def submit(self, request: Request) -> None:
        """Put a request in the inbox (or answer it at once when the run is over)."""
        if self.closed:
            self.reply_late(request)
        else:
            self.asked.add(request.reply)
            request.reply.add_done_callback(self.asked.discard)
            self.inbox.put_nowait(request)

    async def cancel(self, reason: str, by: str) -> str:
        """Cancel the run; the cancel outcome (`cancelled` once it is recorded)."""
        request = Cancel(reason, by, asyncio.get_running_loop().create_future())
        self.submit(request)
        return await request.reply

    async def resume(self, node_id: str, by: str, data: Any, approved: bool) -> str:
        """Answer a waiting node: `resumed` once recorded, or `not_waiting`."""
        request = Resume(node_id, by, data, approved, asyncio.get_running_loop().create_future())
        self.submit(request)
        return await request.reply

    @property
    def workspace_id(self) -> str:
        return str(self.state.created.get("workspaceId", ""))

    @property
    def http(self) -> HttpClient:
        return self.engine.http

    async def report(self, node_id: str, attempt: int, type_: str, data: dict[str, Any]) -> None:
        request = Report(node_id, attempt, type_, data, asyncio.get_running_loop().create_future())
        self.submit(request)
        await request.reply

    async def enter_waiting(self, node_id: str, attempt: int,
                            prompt: Any) -> tuple[asyncio.Future[dict[str, Any]], str | None]:
        request = EnterWaiting(node_id, attempt, prompt, asyncio.get_running_loop().create_future())
        self.submit(request)
        return await request.reply

    async def start_child(self, node_id: str, params: dict[str, Any]) -> str:
        return await self.engine.start_child(self.state, node_id, params)

    async def find_child(self, node_id: str) -> str | None:
        # Children of this run were created after it, so the search starts there.
        return await self.engine.find_child(self.run_id, node_id, self.state.created_position)

    async def wait_for_child(self, child_id: str) -> ChildOutcome:
        status = await self.engine.wait(child_id)
        child = await self.engine.run_state(child_id)
        return ChildOutcome(status, child.output, child.error)

    async def cancel_child(self, child_id: str, reason: str, by: str) -> str:
        return await self.engine.cancel(child_id, reason, by)


class _Outputs:
    """Node outputs as templates see them: a live view of the folded state."""

    def __init__(self, state: RunState) -> None:
        self._state = state

    def __contains__(self, node_id: str) -> bool:
        node = self._state.nodes.get(node_id)
        return node is not None and node.status == NodeStatus.COMPLETED

    def __getitem__(self, node_id: str) -> Any:
        return self._state.nodes[node_id].output


def _branch(output: Any) -> bool:
    return bool(output.get("result")) if isinstance(output, dict) else bool(output)


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)
