"""One run's driver: owns the run's stream, folds every event it writes, schedules nodes.

Each round: handle the messages that arrived (node results, reports, cancel,
resume), plan (start ready nodes, skip unreachable ones, finish the run: the
decisions are the planner's), then commit everything the round produced in one
append with `expected_version`. Node tasks start only after their NodeStarted is
durable, so recovery always knows which attempt was in flight. Pure nodes (noop,
transform, condition, fail) run inline: their NodeStarted and NodeCompleted share
one commit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol

from eventstore.interface import EventStore
from projections.vocabulary import EventType, NodeStatus, RunStatus
from service.engine.attempt import run_attempt
from service.engine.event_limits import clip_error, run_output_too_large, unstorable
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
from service.engine.node_api import NodeContext, NodeError, epoch_seconds
from service.engine.node_host import NodeServices, RunNodeHost
from service.engine.ownership import Ownership
from service.engine.planner import (
    IN_FLIGHT,
    CancelRun,
    FailRun,
    Planner,
    ReattachNode,
    SkipNode,
    StartNode,
    after_failure,
    node_inputs,
    restart_steps,
    unfinished_nodes,
)
from service.engine.registry import NodeRegistry
from service.engine.run_log import RunLog
from service.engine.secrets import REDACTED, Redactor
from service.engine.state import RunState
from service.outcomes import CancelOutcome, ResumeOutcome
from service.secrets.repository import WorkspaceSecrets
from service.settings.engine import EngineSettings
from service.workflows.definition import WorkflowDefinition
from service.workflows.repository import Workflow
from service.workflows.templates import RenderContext, render


class RunHost(NodeServices, Protocol):
    """What a run's driver needs of the engine that hosts it (implemented by `Engine`)."""

    @property
    def store(self) -> EventStore: ...

    @property
    def settings(self) -> EngineSettings: ...

    @property
    def ownership(self) -> Ownership: ...

    @property
    def registry(self) -> NodeRegistry: ...

    @property
    def workspace_secrets(self) -> WorkspaceSecrets: ...

    @property
    def on_node_completed(self) -> Callable[[str, int, Any], None] | None: ...

    def park(self, run_id: str, parked: bool) -> None:
        """The run only waits for answers (its slot is free for another) or is busy again."""


class RunActor:
    """Drives one run: the only writer of its stream while it runs here."""

    def __init__(self, engine: RunHost, state: RunState, workflow: Workflow,
                 definition: WorkflowDefinition, env: dict[str, str] | None) -> None:
        self.engine = engine
        self.run_id = state.run_id
        self.state = state
        self.workflow = workflow
        self.definition = definition
        self.env = env
        self.redact = Redactor(env or {})
        self.log = RunLog(engine.store, state, definition, self.redact,
                          engine.ownership.fence_of(state.run_id))
        self.planner = Planner(definition)
        self.max_event_bytes = engine.settings.max_event_bytes
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.tasks: dict[str, tuple[asyncio.Task[None], NodeContext]] = {}
        self.retry_timers: dict[str, asyncio.TimerHandle] = {}
        self.answers: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.asked: set[asyncio.Future[Any]] = set()  # replies to requests not yet given
        self.closed = False
        self.node_host = RunNodeHost(engine, state, self.submit)
        trigger = state.created.get("trigger") or {}
        self.render_ctx = RenderContext(trigger.get("data") or {}, env or {}, _Outputs(state))

    # -- the loop --------------------------------------------------------------

    async def run(self) -> RunStatus | None:
        try:
            await self.start()
            await self.log.commit()
            while not self.state.terminal:
                await self.plan()
                await self.log.commit()
                if self.state.terminal:
                    break
                self.engine.park(self.run_id, self.only_waiting())
                await self.receive()
                await self.log.commit()
            return self.state.status
        except BaseException as exc:
            # Shutdown or a store failure: stop the nodes and write nothing more; the
            # run stays unfinished in the log and is recovered on the next start.
            await self.stop_tasks(None)
            if isinstance(exc, Exception):
                # Whoever asked (resume, cancel) waits on a callback of the failed commit:
                # tell them, rather than leave them waiting forever.
                for future in list(self.asked):
                    if not future.done():
                        future.set_exception(exc)
            raise
        finally:
            self.close()

    def only_waiting(self) -> bool:
        """Nothing to do until someone answers: every node going is waiting, none retries."""
        waiting = set(self.state.waiting_nodes())
        return bool(waiting) and not self.retry_timers and set(self.tasks) <= waiting

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
                _resolve(reply, ResumeOutcome.NOT_WAITING)
            case Report(reply=reply):
                _resolve(reply, None)
            case EnterWaiting(reply=reply):
                reply.cancel()

    async def start(self) -> None:
        state = self.state
        if state.status == RunStatus.PENDING:
            self.log.emit(EventType.RUN_STARTED, {})
        if self.env is None:
            if state.created.get("envNames"):
                await self.finish(EventType.RUN_FAILED, {
                    "error": "the run's env values were lost in a restart (no secrets key)"})
                return
            self.env = {}
        # Read at every start (after a restart too): a run sees the values of its workspace
        # as they are when its driver starts, and redacts each from all it writes.
        secrets = await self.engine.workspace_secrets.values(
            str(state.created.get("workspaceId", "")))
        self.redact.add(secrets.values())
        self.render_ctx.secrets = secrets
        for step in restart_steps(state):
            match step:
                case CancelRun(request):
                    await self.finish(EventType.RUN_CANCELLED, request)
                case FailRun(error):
                    await self.finish(EventType.RUN_FAILED, {"error": error})
                case ReattachNode(node_id, attempt):
                    await self.launch(node_id, attempt, record_start=False)
                case StartNode(node_id, attempt):
                    await self.launch(node_id, attempt)

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

    # -- planning ----------------------------------------------------------------

    async def plan(self) -> None:
        state = self.state
        while not state.terminal and (step := self.planner.next_step(state)) is not None:
            match step:
                case StartNode(node_id, attempt):
                    await self.launch(node_id, attempt)
                case SkipNode(node_id):
                    self.log.emit_node(EventType.NODE_SKIPPED, node_id, attempt=0)
        completion = self.planner.completion(state, running=bool(self.tasks))
        if completion is None:
            return
        too_large = run_output_too_large(completion.output, self.max_event_bytes)
        if too_large is not None:
            await self.finish(EventType.RUN_FAILED, {"error": too_large})
            return
        self.log.emit(EventType.RUN_COMPLETED, {"output": completion.output})

    async def launch(self, node_id: str, attempt: int, record_start: bool = True) -> None:
        node = self.definition.nodes[node_id]
        node_type = self.engine.registry.get(node.type)
        params = render(node.params, self.render_ctx)
        inputs = node_inputs(self.definition, self.state, node_id)
        if record_start:
            refused = unstorable("input", params, self.max_event_bytes)
            if refused is not None:
                # The log could not store this input (nor any response show it): fail the
                # node, which sends the run down its failure path.
                self.log.emit_node(EventType.NODE_STARTED, node_id, attempt=attempt, input=None)
                await self.failed(node_id, attempt, refused, False)
                return
            self.log.emit_node(EventType.NODE_STARTED, node_id, attempt=attempt,
                               input=_recordable(params, node_type))
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
        self.log.after_commit(lambda: self.spawn(node_id, attempt, node_type, params, inputs))

    def spawn(self, node_id: str, attempt: int, node_type: Any, params: dict[str, Any],
              inputs: dict[str, Any]) -> None:
        if self.state.terminal or self.closed:
            return
        node = self.definition.nodes[node_id]
        ctx = NodeContext(self.node_host, node_id, attempt, node.name, node.type)
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

    async def completed(self, node_id: str, attempt: int, output: Any, duration_ms: int) -> None:
        refused = unstorable("output", output, self.max_event_bytes)
        if refused is not None:
            await self.failed(node_id, attempt, refused, False)
            return
        self.log.emit_node(EventType.NODE_COMPLETED, node_id, attempt=attempt, output=output,
                           durationMs=duration_ms)
        if self.engine.on_node_completed is not None:
            self.engine.on_node_completed(self.definition.nodes[node_id].type, duration_ms,
                                          output)
        self.planner.settled(node_id)

    async def failed(self, node_id: str, attempt: int, error: str, retryable: bool) -> None:
        # Secrets out first: a cut through one would leave its start behind.
        error = clip_error(self.redact(error if isinstance(error, str) else str(error)))
        retry = after_failure(self.definition, node_id, attempt, retryable)
        self.log.emit_node(EventType.NODE_FAILED, node_id, attempt=attempt, error=error,
                           willRetry=retry is not None)
        if retry is not None:
            self.retry_timers[node_id] = asyncio.get_running_loop().call_later(
                retry.delay_s, self.inbox.put_nowait, RetryDue(node_id))
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
        for node_id in unfinished_nodes(self.state):
            self.log.emit_node(EventType.NODE_CANCELLED, node_id,
                               attempt=self.state.nodes[node_id].attempt)
        self.log.emit(type_, data)

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
                self.log.emit(EventType.RUN_CANCEL_REQUESTED, {"reason": reason, "by": by})
                await self.log.commit()  # durable before the (possibly slow) stopping of nodes
                await self.finish(EventType.RUN_CANCELLED, {"reason": reason, "by": by})
                self.log.after_commit(lambda: _resolve(reply, CancelOutcome.CANCELLED))

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
        refused = unstorable(f"{message.type_} report", message.data, self.max_event_bytes)
        if refused is not None:
            # The node's own call (progress, thinking) fails, and with it the attempt.
            if not message.reply.done():
                message.reply.set_exception(NodeError(refused, retryable=False))
        elif node is not None and node.attempt == message.attempt and node.status in IN_FLIGHT:
            self.log.emit_node(message.type_, message.node_id, attempt=message.attempt,
                               **message.data)
            self.log.after_commit(lambda: _resolve(message.reply, None))
        else:
            _resolve(message.reply, None)

    def on_wait(self, message: EnterWaiting) -> None:
        node_id, attempt, future = message.node_id, message.attempt, message.reply
        node = self.state.nodes[node_id]
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        if node.attempt != attempt:
            return  # a stale attempt; it is being cancelled
        if node.resumed is not None:
            # Answered before the node asked (a resume right after a restart): the answer
            # is this wait's, and taken, so that a later wait waits for its own.
            answer.set_result(node.resumed)
            node.resumed = None
            _resolve(future, (answer, node.waiting_since))
            return
        self.answers[node_id] = answer
        if node.status == NodeStatus.WAITING:
            _resolve(future, (answer, node.waiting_since))
            return
        self.log.emit_node(EventType.NODE_WAITING, node_id, attempt=attempt,
                           prompt=message.prompt)
        if self.state.status == RunStatus.RUNNING:
            self.log.emit(EventType.RUN_WAITING, {})
        self.log.after_commit(lambda: _resolve(future, (answer, node.waiting_since)))

    def on_resume(self, message: Resume) -> None:
        node_id, future = message.node_id, message.reply
        node = self.state.nodes.get(node_id)
        if node is None or node.status != NodeStatus.WAITING:
            _resolve(future, ResumeOutcome.NOT_WAITING)
            return
        self.log.emit_node(EventType.NODE_RESUMED, node_id, attempt=node.attempt, by=message.by,
                           data=message.data, approved=message.approved)
        if self.state.status == RunStatus.WAITING and not self.state.waiting_nodes():
            self.log.emit(EventType.RUN_RESUMED, {})

        def deliver() -> None:
            answer = self.answers.pop(node_id, None)
            if answer is not None and node.resumed is not None:
                _resolve(answer, node.resumed)
                node.resumed = None  # taken by the wait it answered
            _resolve(future, ResumeOutcome.RESUMED)

        self.log.after_commit(deliver)

    # -- requests (from node tasks through the node host, and from the engine) -----------

    def submit(self, request: Request) -> None:
        """Put a request in the inbox (or answer it at once when the run is over)."""
        if self.closed:
            self.reply_late(request)
        else:
            self.asked.add(request.reply)
            request.reply.add_done_callback(self.asked.discard)
            self.inbox.put_nowait(request)

    async def cancel(self, reason: str, by: str) -> CancelOutcome:
        """Cancel the run; the cancel outcome (`cancelled` once it is recorded)."""
        request = Cancel(reason, by, asyncio.get_running_loop().create_future())
        self.submit(request)
        return await request.reply

    async def resume(self, node_id: str, by: str, data: Any,
                     approved: bool) -> ResumeOutcome:
        """Answer a waiting node: `resumed` once recorded, or `not_waiting`."""
        request = Resume(node_id, by, data, approved, asyncio.get_running_loop().create_future())
        self.submit(request)
        return await request.reply


class _Outputs:
    """Node outputs as templates see them: a live view of the folded state."""

    def __init__(self, state: RunState) -> None:
        self._state = state

    def __contains__(self, node_id: str) -> bool:
        node = self._state.nodes.get(node_id)
        return node is not None and node.status == NodeStatus.COMPLETED

    def __getitem__(self, node_id: str) -> Any:
        return self._state.nodes[node_id].output


def _recordable(params: dict[str, Any], node_type: Any) -> dict[str, Any]:
    """The params as NodeStarted records them: a type's secret params as ***."""
    hidden: frozenset[str] = getattr(node_type, "secret_params", frozenset())
    return {key: REDACTED if key in hidden and value else value
            for key, value in params.items()}


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)
