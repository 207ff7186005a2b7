"""The engine's part on a log several nodes share (PostgreSQL): run leases and requests.

Every unfinished root run is leased by one node (eventstore/leases.py); its children go
with it. A node leases a new run if it has room, else leaves it queued; every second or
so, and whenever a slot comes free, it claims queued runs and the runs of nodes whose
leases expired (dead or frozen), oldest first. A node that finds its lease gone stops
the run's family without writing (the fence would refuse it anyway). A cancel or resume
that reaches a node not driving the run goes to the lease holder's mailbox and comes
back with its answer; a run nobody holds is taken over here to be answered.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import orjson
import structlog

from eventstore.errors import StoreUnavailable
from eventstore.interface import EventStore
from eventstore.leases import Fence
from projections.vocabulary import RunStatus
from service.engine.ownership import Ownership
from service.engine.scheduler import Scheduler
from service.engine.state import RunState
from service.outcomes import CancelOutcome, ResumeOutcome
from service.settings.engine import EngineSettings

if TYPE_CHECKING:
    from service.workflows.definition import WorkflowDefinition
    from service.workflows.repository import Workflow

    Loaded = list[tuple[RunState, Workflow, WorkflowDefinition]]

log = structlog.get_logger(__name__)

# How often a node reads its mailbox, and how long a request waits for the holder's answer.
INBOX_POLL_S = 0.1
ANSWER_WAIT_S = 10.0


class ClusterDriving:
    """Mixed into Engine; only used when `ownership.shared`."""

    store: EventStore
    settings: EngineSettings
    scheduler: Scheduler
    ownership: Ownership
    owner: str
    _started: bool
    _done: dict[str, asyncio.Future[RunStatus | None]]
    _tasks: dict[str, asyncio.Task[None]]
    _cluster_tasks: list[asyncio.Task[None]]
    _claiming: asyncio.Task[None] | None
    # Whether queued runs may be waiting: a freed slot claims at once only then (a claim
    # per finished run costs a cluster about a fifth of its runs/s); the sweep claims anyway.
    _backlog: bool = True

    if TYPE_CHECKING:
        def _room(self) -> int: ...

        async def _load(self, run_ids: list[str]) -> Loaded: ...

        def _admit_all(self, loaded: Loaded, bypass: bool = False) -> None: ...

        async def cancel(self, run_id: str, reason: str, by: str,
                         relayed: bool = False) -> CancelOutcome: ...

        async def resume(self, run_id: str, node_id: str, by: str, data: Any = None,
                         approved: bool = True, relayed: bool = False) -> ResumeOutcome: ...

    def _start_cluster(self) -> None:
        loop = asyncio.get_running_loop()
        self._cluster_tasks = [loop.create_task(self._sweep(), name="claims"),
                               loop.create_task(self._serve_mailbox(), name="mailbox")]

    # -- leases ---------------------------------------------------------------------

    async def _lease_new(self, run_id: str, parent_run_id: str | None) -> Fence | None:
        """The fence a new run is recorded under: a child's is its parent's root's; a new
        root run is leased here if this node has room, else queued (None)."""
        if parent_run_id is not None:
            self.ownership.join(run_id, parent_run_id)
            return self.ownership.fence_of(run_id)
        book = self.ownership.book
        if book is None:
            return None
        fence = await book.take(run_id, run_here=self._room() > 0)
        if fence is not None:
            self.ownership.hold(fence)
        else:
            self._backlog = True
        return fence

    async def _unlease_new(self, run_id: str, parent_run_id: str | None, fence: Fence | None,
                           recorded: bool) -> None:
        """Undo `_lease_new` for a run this call did not record."""
        self.ownership.forget(run_id)
        book = self.ownership.book
        if book is None or parent_run_id is not None:
            return
        try:
            if not recorded:
                await book.forget(run_id)
            elif fence is not None:
                await book.give_back(fence)
        except Exception as exc:  # noqa: BLE001 - a stray lease row is skipped by claims
            log.warning("lease_undo_failed", run_id=run_id, error=str(exc))

    async def _claim(self, earlier_owner: str | None = None) -> list[str]:
        """Claim queued and orphaned runs (oldest first) for the free slots; their ids."""
        book = self.ownership.book
        assert book is not None
        taken = []
        room = self._room()
        fences = await book.claim(room, earlier_owner)
        self._backlog = room > 0 and len(fences) == room  # there may be more
        for fence in fences:
            taken += await self._take(fence)
        return taken

    async def _take(self, fence: Fence, bypass: bool = False) -> list[str]:
        """Drive the unfinished runs of a root just leased; their ids."""
        book = self.ownership.book
        assert book is not None
        self.ownership.hold(fence)
        try:
            family = await self.ownership.family(fence.key)
            for run_id in family:
                self.ownership.join(run_id, fence.key)
            loaded = await self._load(family)
        except Exception:
            for run_id in self.ownership.family_here(fence.key):
                self.ownership.forget(run_id)
            self.ownership.forget(fence.key)
            await book.give_back(fence)
            raise
        if not loaded:  # finished (its lease was left behind by a crash)
            self.ownership.forget(fence.key)
            await self.ownership.release(fence)
            return []
        log.info("run_claimed", run_id=fence.key, epoch=fence.epoch, runs=len(loaded))
        self._admit_all(loaded, bypass)
        return [state.run_id for state, _, _ in loaded]

    def _claim_soon(self, sweep: bool = False) -> None:
        """Claim at once (a slot came free and runs may be queued, or the sweep is due),
        unless a claim is under way."""
        if not self.ownership.shared or not self._started or not (sweep or self._backlog):
            return
        if self._claiming is not None and not self._claiming.done():
            return

        async def claim() -> None:
            try:
                await self._claim()
            except Exception as exc:  # noqa: BLE001 - the sweep tries again
                log.warning("run_claim_failed", error=str(exc))

        self._claiming = asyncio.get_running_loop().create_task(claim(), name="claim")

    async def _sweep(self) -> None:
        """Claim every second or so: runs queued by nodes without room, and the runs of
        nodes that died (their leases expired)."""
        interval = min(1.0, self.settings.lease_ttl_s / 3)
        while True:
            await asyncio.sleep(interval)
            self._claim_soon(sweep=True)

    def _lost(self, roots: list[str]) -> None:
        for root in roots:
            self._lose(root)

    def _lose(self, root: str) -> None:
        """Another node holds `root`'s lease now: stop its family here, writing nothing
        (whatever this node would still write is refused by the fence anyway)."""
        log.warning("run_lease_lost", run_id=root, owner=self.owner)
        family = self.ownership.family_here(root)
        self.ownership.forget(root)
        current = asyncio.current_task()
        for run_id in family:
            self.ownership.forget(run_id)
            future = self._done.get(run_id)
            if future is not None and not future.done():
                future.set_result(None)  # a waiter here follows the run's stream instead
            task = self._tasks.get(run_id)
            if task is not None and task is not current:
                task.cancel()

    async def _follow(self, run_id: str) -> RunStatus:
        """Wait for a run another node drives: its status once it has ended."""
        state = RunState(run_id)
        async for event in self.store.subscribe(run_id):
            state.apply(event.type, event.payload, event.recorded_at, event.position)
            if state.terminal:
                break
        assert state.status is not None
        return state.status

    # -- requests about runs driven elsewhere ----------------------------------------

    async def _handled_elsewhere(self, run_id: str, request: dict[str, Any]) -> str | None:
        """Have the node driving `run_id` handle `request`: its outcome. None when no node
        holds the run: then it is taken over here if nobody drives it (queued, or its
        holder's lease expired), and the caller answers the request itself."""
        book = self.ownership.book
        assert book is not None
        root = await self.ownership.root_in_log(run_id)
        outcome = await self._relay(root, run_id, request)
        if outcome is None:
            fence = await book.claim_key(root)
            if fence is not None:
                # Admitted whatever the room: the request is about to end it or answer it.
                await self._take(fence, bypass=True)
        return outcome

    async def _relay(self, root: str, run_id: str, request: dict[str, Any]) -> str | None:
        """The holder of `root`'s lease handles `request`: its outcome, or None when no
        node holds it."""
        book = self.ownership.book
        assert book is not None
        message_id = await book.send(root, orjson.dumps({"runId": run_id, **request}))
        if message_id is None:
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ANSWER_WAIT_S
        while loop.time() < deadline:
            await asyncio.sleep(INBOX_POLL_S / 2)
            answer = await book.answer(message_id)
            if answer is not None:
                reply = orjson.loads(answer)
                if "outcome" not in reply:
                    raise StoreUnavailable(f"the node driving the run: {reply.get('error')}")
                return str(reply["outcome"])
        raise StoreUnavailable("the node driving the run did not answer in time")

    async def _serve_mailbox(self) -> None:
        """Answer the requests other nodes leave for the runs this node drives."""
        book = self.ownership.book
        assert book is not None
        while True:
            await asyncio.sleep(INBOX_POLL_S)
            try:
                for message_id, message in await book.inbox():
                    await book.reply(message_id, orjson.dumps(await self._handle(message)))
            except Exception as exc:  # noqa: BLE001 - the next poll tries again
                log.warning("run_mailbox_failed", error=str(exc))

    async def _handle(self, message: bytes) -> dict[str, Any]:
        request = orjson.loads(message)
        run_id = request["runId"]
        try:
            # Answered as this node sees it: never passed on again (the lease may have moved
            # meanwhile; the sender asks again and reaches the new holder).
            if request["kind"] == "cancel":
                outcome: str = await self.cancel(run_id, request["reason"], request["by"],
                                                 relayed=True)
            else:
                outcome = await self.resume(run_id, request["nodeId"], request["by"],
                                            request.get("data"), request.get("approved", True),
                                            relayed=True)
        except StoreUnavailable as exc:
            return {"error": str(exc)}
        return {"outcome": outcome}
