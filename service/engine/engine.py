"""The engine's public face: start, wait for, cancel and resume runs; recover after a restart."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Callable
from typing import Any

import structlog

from eventstore.errors import ConcurrencyConflict, EventTooLarge, LeaseLost, StoreUnavailable
from eventstore.interface import NO_STREAM, EventStore
from eventstore.records import NewEvent, RecordedEvent
from eventstore.tables import native
from projections.vocabulary import EventType, RunStatus
from service.engine.cluster import ClusterDriving
from service.engine.http_client import HttpClient
from service.engine.messages import cancel_outcome
from service.engine.node_api import NodeError
from service.engine.ownership import Ownership
from service.engine.registry import NodeRegistry, default_registry
from service.engine.rerun import RerunPlan, RunStillGoing, plan_rerun
from service.engine.runner import RunActor
from service.engine.scheduler import Scheduler
from service.engine.secrets import Redactor, SecretVault
from service.engine.state import RunState
from service.outcomes import CancelOutcome, ResumeOutcome
from service.secrets.repository import WorkspaceSecrets
from service.settings.engine import EngineSettings
from service.workflows.definition import WorkflowDefinition
from service.workflows.errors import WorkflowInvalid, WorkflowNotFound
from service.workflows.repository import Workflow, WorkflowRepository

log = structlog.get_logger(__name__)

READ_PAGE = 1000
# A run whose append failed (disk full, read-only) tries again after this, doubling up to max.
STORE_RETRY_FIRST_S = 0.25
STORE_RETRY_MAX_S = 5.0
MAX_SUBWORKFLOW_DEPTH = 10


class EngineNotRunning(RuntimeError):
    """The engine is not started (or is stopping)."""


class RunNotFound(LookupError):
    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id!r} not found")
        self.run_id = run_id


class Engine(ClusterDriving):
    """Executes workflow runs; every transition goes through the event log first."""

    def __init__(self, store: EventStore, workflows_repo: WorkflowRepository,
                 settings: EngineSettings | None = None,
                 registry: NodeRegistry | None = None, node: str | None = None) -> None:
        """`node` names this service node: its leases' owner is the name and a random
        suffix (this process), and at start it takes over what an earlier process of the
        same name still held at once, rather than after the leases expire."""
        self.store = store
        self.workflows = workflows_repo
        self.settings = settings or EngineSettings()
        self.registry = registry or default_registry(self.settings.entry_point_group)
        self.http = HttpClient(self.settings)
        self.vault = SecretVault(store, self.settings.secrets_key)
        self.workspace_secrets = WorkspaceSecrets(store, self.vault.fernet)
        self.scheduler = Scheduler(self.settings.max_concurrent_runs)
        self.owner = f"{node or socket.gethostname()}/{uuid.uuid4().hex[:12]}"
        self._earlier_owner = f"{node}/" if node else None
        self.ownership = Ownership(store, store.leases(self.owner, self.settings.lease_ttl_s))
        self._cluster_tasks: list[asyncio.Task[None]] = []
        self._claiming: asyncio.Task[None] | None = None
        self._actors: dict[str, RunActor] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._done: dict[str, asyncio.Future[RunStatus | None]] = {}
        self._queued_states: dict[str, RunState] = {}
        self._envs: dict[str, dict[str, str]] = {}
        self._depth: dict[str, int] = {}
        # Runs waiting for the store to take writes again (see `_drive`).
        self._stalled: set[str] = set()
        self._started = False
        # Told of each completed node: its type, duration in ms and output (metrics).
        self.on_node_completed: Callable[[str, int, Any], None] | None = None

    # -- lifecycle -------------------------------------------------------------

    async def start(self, recover: bool = True) -> None:
        """Start accepting runs; by default continue every unfinished run first."""
        await self.vault.ensure_schema()
        await self.workspace_secrets.ensure_schema()
        self._started = True
        self.ownership.watch(self._lost)
        if recover:
            await self.recover()
        if self.ownership.shared:
            self._start_cluster()

    def _room(self) -> int:
        return self.scheduler.limit - len(self.scheduler.active) - len(self.scheduler.queued())

    async def stop(self) -> None:
        """Stop every run task without writing anything: runs resume after a restart."""
        self._started = False
        tasks = list(self._tasks.values())
        tasks += self._cluster_tasks + ([self._claiming] if self._claiming else [])
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        book = self.ownership.book
        if book is not None:
            # Nothing is driven here any more: other nodes may take the runs over at once.
            try:
                await book.hand_back()
            except Exception as exc:  # noqa: BLE001 - they expire within lease_ttl_s
                log.warning("lease_hand_back_failed", error=str(exc))
            await book.close()
        for future in self._done.values():
            if not future.done():
                future.set_exception(EngineNotRunning("the engine stopped"))
                future.exception()  # retrieved: nobody may be waiting
        self._done.clear()
        self._queued_states.clear()
        self.scheduler.clear()
        await self.http.close()

    async def recover(self) -> list[str]:
        """Continue every unfinished run from its own events; returns their ids. On a
        shared log: queue a lease for each unfinished root run without one, then claim
        what this node has room for (and what its earlier process held)."""
        book = self.ownership.book
        if book is not None:
            await book.queue(await self.ownership.unfinished(roots_only=True))
            return await self._claim(self._earlier_owner)
        loaded = await self._load(await self.ownership.unfinished(roots_only=False))
        # Runs that were running before the restart keep their slots ahead of the queue.
        loaded.sort(key=lambda item: (item[0].status == RunStatus.PENDING,
                                      item[0].created_position))
        self._admit_all(loaded)
        return [state.run_id for state, _, _ in loaded]

    def _admit_all(self, loaded: list[tuple[RunState, Workflow, WorkflowDefinition]],
                   bypass: bool = False) -> None:
        # Admit all at once (no await in between), so a parent that adopts its child
        # always finds the child already being driven.
        for state, workflow, definition in loaded:
            self._admit(state, workflow, definition,
                        bypass=bypass or bool(state.created.get("parentRunId")))

    async def _load(self, run_ids: list[str]
                    ) -> list[tuple[RunState, Workflow, WorkflowDefinition]]:
        """Each unfinished run folded from its events, with its workflow version."""
        loaded = []
        for run_id in run_ids:
            if run_id in self._done:
                continue
            state = await self.run_state(run_id)
            try:
                workflow, definition = await self.workflows.parsed(
                    state.created["workflowId"], state.created["workflowVersion"])
            except (WorkflowNotFound, WorkflowInvalid) as exc:
                # Versions are immutable and were valid when saved, so this only happens if
                # the tables were tampered with; end the run rather than stop the service
                # or leave the run unfinished forever.
                log.error("recover_workflow_unusable", run_id=run_id, error=str(exc))
                await self.store.append(run_id, [NewEvent(EventType.RUN_FAILED, {
                    "error": "the workflow version this run needs is missing or unreadable"})],
                    state.version, self.ownership.fence_of(run_id))
                continue
            self._envs[run_id] = await self.vault.get(run_id)  # type: ignore[assignment]
            loaded.append((state, workflow, definition))
        return loaded

    # -- runs ---------------------------------------------------------------------

    async def start_run(self, workflow_id: str, workspace_id: str, inputs: dict[str, Any],
                        envs: dict[str, str], created_by: str, chat_id: str | None = None,
                        version: int | None = None, *, parent_run_id: str | None = None,
                        parent_node_id: str | None = None, run_id: str | None = None,
                        triggered_by: dict[str, Any] | None = None,
                        idempotency_key: str | None = None,
                        rerun: RerunPlan | None = None) -> str:
        """Record RunCreated durably (with a rerun's reused nodes after it, in the same
        append), then schedule the run; returns its id.

        With `run_id` (an id claimed beforehand, service/triggers/), a run already recorded
        under that id is left as it is and its id returned: a start is never made twice."""
        if not self._started:
            raise EngineNotRunning("the engine is not running")
        if version is None:
            version = (await self.workflows.get(workflow_id, workspace_id)).version
        workflow, definition = await self.workflows.parsed(workflow_id, version)
        if workflow.workspace_id != workspace_id:
            raise WorkflowNotFound(workflow_id)
        inputs = dict(inputs or {})
        envs = {str(k): str(v) for k, v in (envs or {}).items()}
        redact = Redactor(envs)
        run_id = run_id or str(uuid.uuid4())
        data = {
            "workflowId": workflow_id, "workflowVersion": version,
            "workflowName": definition.name, "workspaceId": workspace_id, "chatId": chat_id,
            "parentRunId": parent_run_id, "parentNodeId": parent_node_id,
            "inputs": redact(inputs), "envNames": sorted(envs),
            "trigger": {"data": redact({**definition.static_data, **inputs})},
            "createdBy": created_by,
            "triggeredBy": triggered_by or {"kind": "api", "id": None},
            "idempotencyKey": idempotency_key,
            "rerunOf": rerun.rerun_of if rerun is not None else None,
        }
        fence = await self._lease_new(run_id, parent_run_id)
        await self.vault.put(run_id, envs)  # first: a restart after the append needs them
        try:
            recorded = await self.store.append(
                run_id, [NewEvent(EventType.RUN_CREATED, data),
                         *(rerun.events if rerun is not None else ())], NO_STREAM, fence)
        except ConcurrencyConflict:
            # Started by another request for the same claim: its secrets and lease stay.
            await self._unlease_new(run_id, parent_run_id, fence, recorded=True)
            return run_id
        except Exception:
            await self.vault.drop(run_id)  # the run does not exist
            await self._unlease_new(run_id, parent_run_id, fence, recorded=False)
            raise
        if not self._started:
            return run_id  # stopped meanwhile: the run stays pending and is recovered on start
        if self.ownership.shared and fence is None and parent_run_id is None:
            return run_id  # queued: the first node with room claims it
        self._envs[run_id] = envs
        if parent_run_id is not None:
            self._depth[run_id] = self._depth.get(parent_run_id, 0) + 1
        self._admit(RunState.fold(run_id, recorded), workflow, definition,
                    bypass=parent_run_id is not None)
        return run_id

    async def rerun(self, run_id: str, from_node: str | None, latest: bool,
                    inputs: dict[str, Any] | None, created_by: str) -> str:
        """Start a rerun of the finished run `run_id` (see service/engine/rerun.py) with the
        version it ran (or the workflow's latest) and its inputs (or `inputs`); its id."""
        events = await self._events(run_id)
        original = RunState.fold(run_id, events)
        if not original.terminal:
            raise RunStillGoing("the run is still going: cancel it or wait for it to end")
        created = original.created
        workflow_id, workspace_id = created["workflowId"], created["workspaceId"]
        version = (await self.workflows.get(workflow_id, workspace_id)).version if latest \
            else int(created["workflowVersion"])
        _, definition = await self.workflows.parsed(workflow_id, version)
        plan = plan_rerun(run_id, events, definition, from_node)
        return await self.start_run(
            workflow_id, workspace_id, created.get("inputs") or {} if inputs is None else inputs,
            {}, created_by, created.get("chatId"), version, rerun=plan)

    async def _events(self, run_id: str) -> list[RecordedEvent]:
        """Every event of a finished run (a rerun reads each node's input and output)."""
        events: list[RecordedEvent] = []
        while True:
            page = await self.store.read(run_id, events[-1].position if events else 0, READ_PAGE)
            events += page
            if len(page) < READ_PAGE:
                return events

    def _admit(self, state: RunState, workflow: Workflow, definition: WorkflowDefinition,
               bypass: bool) -> None:
        run_id = state.run_id
        self._done[run_id] = asyncio.get_running_loop().create_future()
        self._queued_states[run_id] = state

        def launch() -> None:
            self._queued_states.pop(run_id, None)
            actor = RunActor(self, state, workflow, definition, self._envs.get(run_id))
            self._actors[run_id] = actor
            self._tasks[run_id] = asyncio.get_running_loop().create_task(
                self._drive(actor), name=f"run:{run_id}")

        self.scheduler.submit(run_id, launch, bypass)

    async def _drive(self, actor: RunActor) -> None:
        run_id = actor.run_id
        future = self._done.get(run_id)
        delay = STORE_RETRY_FIRST_S
        try:
            while True:
                try:
                    status = await actor.run()
                    break
                except EventTooLarge as exc:
                    # The runner checks what it writes against the limit, so this is a
                    # backstop: end the run on its failure path instead of leaving it
                    # unfinished, to fail again the same way after every restart.
                    log.error("run_event_too_large", run_id=run_id, error=str(exc))
                    actor = RunActor(self, await self.run_state(run_id), actor.workflow,
                                     actor.definition, self._envs.get(run_id))
                    if not actor.state.terminal:
                        await actor.finish(EventType.RUN_FAILED, {
                            "error": f"the run could not be recorded: {exc}"})
                        await actor.log.commit()
                    status = actor.state.status
                    break
                except StoreUnavailable as exc:
                    # Nothing of the failed append was acknowledged. Wait, then fold the run
                    # again from its log and go on, as recovery after a restart would; the
                    # run keeps its slot meanwhile.
                    log.warning("run_store_unavailable", run_id=run_id, error=str(exc),
                                retry_in_s=delay)
                    self._stalled.add(run_id)
                    state, delay = await self._state_once_back(run_id, delay)
                    self._stalled.discard(run_id)
                    if state.terminal:
                        status = state.status
                        break
                    actor = RunActor(self, state, actor.workflow, actor.definition,
                                     self._envs.get(run_id))
                    self._actors[run_id] = actor
        except asyncio.CancelledError:
            raise
        except LeaseLost:
            # Another node took the run over (this one was frozen or cut off past its
            # lease); its waiters here follow the run's stream (`wait`).
            self._lose(self.ownership.root_of(run_id))
        except Exception as exc:  # the run stays unfinished in the log; recovered on restart
            log.exception("run_driver_failed", run_id=run_id)
            if future is not None and not future.done():
                future.set_exception(exc)
                future.exception()
        else:
            self._envs.pop(run_id, None)
            self._depth.pop(run_id, None)
            try:
                await self.vault.drop(run_id)
            except Exception:  # the run is finished either way; a stale row is harmless
                log.warning("run_secrets_drop_failed", run_id=run_id)
            if future is not None and not future.done():
                future.set_result(status)
            fence = self.ownership.forget(run_id)
            if fence is not None:  # a root: its family is done
                await self.ownership.release(fence)
        finally:
            self._stalled.discard(run_id)
            self._actors.pop(run_id, None)
            self._tasks.pop(run_id, None)
            self._done.pop(run_id, None)
            self.ownership.forget(run_id)
            self.scheduler.release(run_id, start_next=self._started)
            self._claim_soon()

    async def _state_once_back(self, run_id: str, delay: float) -> tuple[RunState, float]:
        """The run folded again from its log once the store answers: it is read after
        `delay`, and again after each doubled delay while the store is still gone (a read
        that fails must not end the driver, or the run would wait for a restart)."""
        while True:
            await asyncio.sleep(delay)
            delay = min(delay * 2, STORE_RETRY_MAX_S)
            try:
                return await self.run_state(run_id), delay
            except StoreUnavailable as exc:
                log.warning("run_store_unavailable", run_id=run_id, error=str(exc),
                            retry_in_s=delay)

    async def wait(self, run_id: str) -> RunStatus:
        """Wait until the run ends here (or read its status if this engine is not driving it)."""
        future = self._done.get(run_id)
        if future is not None:
            status = await asyncio.shield(future)
            if status is not None:
                return status
        state = await self.run_state(run_id)
        if state.status is None:
            raise RunNotFound(run_id)
        if state.terminal or not self.ownership.shared:
            return state.status
        return await self._follow(run_id)

    async def cancel(self, run_id: str, reason: str, by: str,
                     relayed: bool = False) -> CancelOutcome:
        """Outcome: cancelled; already_completed (it completed or failed); not_eligible (it was
        cancelled already, or is not driven by any engine); not_found. On a shared log a run
        driven by another node is cancelled there (unless this request came from there)."""
        actor = self._actors.get(run_id)
        if actor is not None and not actor.closed:
            return await actor.cancel(reason, by)
        if run_id in self._stalled:
            raise StoreUnavailable("the run waits for the store to take writes again")
        if self.scheduler.withdraw(run_id):
            state = self._queued_states.pop(run_id)
            payload = {"reason": reason, "by": by}
            fence = self.ownership.fence_of(run_id)
            await self.store.append(run_id, [
                NewEvent(EventType.RUN_CANCEL_REQUESTED, payload),
                NewEvent(EventType.RUN_CANCELLED, payload)], state.version, fence)
            self._envs.pop(run_id, None)
            future = self._done.pop(run_id, None)
            if future is not None and not future.done():
                future.set_result(RunStatus.CANCELLED)
            await self.vault.drop(run_id)
            if self.ownership.forget(run_id) is not None and fence is not None:
                await self.ownership.release(fence)
            return CancelOutcome.CANCELLED
        if self.ownership.shared and not relayed:
            outcome = await self._handled_elsewhere(
                run_id, {"kind": "cancel", "reason": reason, "by": by})
            if outcome is not None:
                return CancelOutcome(outcome)
            return await self.cancel(run_id, reason, by, relayed=True)
        return cancel_outcome((await self.run_state(run_id)).status)

    async def resume(self, run_id: str, node_id: str, by: str, data: Any = None,
                     approved: bool = True, relayed: bool = False) -> ResumeOutcome:
        """Answer a waiting node. Outcome: resumed, not_waiting or not_found. On a shared
        log the node driving the run answers it (unless this request came from there)."""
        actor = self._actors.get(run_id)
        if actor is not None and not actor.closed:
            return await actor.resume(node_id, by, data, approved)
        if run_id in self._stalled:
            raise StoreUnavailable("the run waits for the store to take writes again")
        if self.ownership.shared and not relayed:
            outcome = await self._handled_elsewhere(run_id, {
                "kind": "resume", "nodeId": node_id, "by": by, "data": data,
                "approved": approved})
            if outcome is not None:
                return ResumeOutcome(outcome)
            return await self.resume(run_id, node_id, by, data, approved, relayed=True)
        state = await self.run_state(run_id)
        return ResumeOutcome.NOT_FOUND if state.status is None else ResumeOutcome.NOT_WAITING

    async def run_state(self, run_id: str) -> RunState:
        """The run folded from its events (status None when it has none)."""
        state = RunState(run_id)
        after = 0
        while True:
            page = await self.store.read(run_id, after, READ_PAGE)
            for event in page:
                state.apply(event.type, event.payload, event.recorded_at, event.position)
            if len(page) < READ_PAGE:
                return state
            after = page[-1].position

    def park(self, run_id: str, parked: bool) -> None:
        self.scheduler.park(run_id, parked, start_next=self._started)
        if parked:
            self._claim_soon()

    def queued_runs(self) -> list[str]:
        """Runs waiting for a slot, in the order they will start."""
        return self.scheduler.queued()

    # -- subworkflows -------------------------------------------------------------

    async def start_child(self, parent: RunState, node_id: str, params: dict[str, Any]) -> str:
        """Start the child run of a subworkflow node; its id."""
        depth = self._depth.get(parent.run_id, 0)
        if depth >= MAX_SUBWORKFLOW_DEPTH:
            raise NodeError(f"subworkflows nest deeper than {MAX_SUBWORKFLOW_DEPTH}",
                            retryable=False)
        created = parent.created
        workspace_id = str(created.get("workspaceId", ""))
        workflow_id = params.get("workflowId")
        if not workflow_id:
            found = await self.workflows.find_by_name(workspace_id, str(params.get("workflow")))
            if found is None:
                raise NodeError(f"no workflow named {params.get('workflow')!r}", retryable=False)
            workflow_id = found.id
        try:
            return await self.start_run(
                str(workflow_id), workspace_id, params.get("inputs") or {},
                self._envs.get(parent.run_id) or {}, created.get("createdBy", "system"),
                created.get("chatId"), params.get("version"),
                parent_run_id=parent.run_id, parent_node_id=node_id)
        except (WorkflowNotFound, EventTooLarge) as exc:
            # Neither gets better by trying again (the child's inputs are too large).
            raise NodeError(str(exc), retryable=False) from None

    async def find_child(self, run_id: str, node_id: str, after: int) -> str | None:
        """The latest child of this node that did not fail or get cancelled, if any."""
        # The runs projection holds each child's parent and its RunCreated position (seq),
        # in the same transaction as the log: one lookup on the runs_parent index.
        rows = await self.store.fetch_all(native(
            "SELECT id FROM runs WHERE parent_run_id = ? AND parent_node_id = ? AND seq > ?"
            " ORDER BY seq DESC LIMIT 1", self.store.dialect), (run_id, node_id, after))
        if not rows:
            return None
        child = str(rows[0][0])
        state = await self.run_state(child)
        return child if state.status not in (RunStatus.FAILED, RunStatus.CANCELLED) else None
