"""Read models of runs: the run list, activity (node) runs and per-workflow status counts.

Applied by the store inside the append's transaction (see eventstore/projector.py),
so a read model is never ahead of or behind the log. A batch of events is folded in
memory and each row it touches is written once; the result is the same as applying
the events one by one, however the log is cut into batches (rebuild relies on it).
Counts are kept incrementally so no request path ever counts rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from hashlib import sha1
from typing import Any

import orjson

from eventstore.records import RecordedEvent
from eventstore.rows import Dialect, FoundRows, RowChanges, RowLookup, Statement, split_sets
from projections.runs_schema import TABLES, schema
from projections.vocabulary import (
    NODE_STATUS_AFTER,
    RUN_STATUS_AFTER,
    EventType,
    node_status_after,
)

# Activity-run ids are derived, not stored in the log: the same run and node always
# give the same id, so a rebuild reproduces them exactly.
ACTIVITY_NAMESPACE = uuid.UUID("7d0c8f0e-6a59-4b8e-9d3e-2f1c0b5a4e11")


_NAMESPACE_BYTES = ACTIVITY_NAMESPACE.bytes


def activity_run_id(run_id: str, node_id: str) -> str:
    """uuid5(ACTIVITY_NAMESPACE, "run/node"), computed without building UUID objects: it
    runs for every node start in the writer's batch."""
    digest = bytearray(sha1(_NAMESPACE_BYTES + f"{run_id}/{node_id}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# What the fold must know of a run created before the batch: its status (to move its
# counter), the counter's key, and the columns later events only set when empty.
RUN_STATE = ("status", "workspace_id", "workflow_id", "workflow_name", "started_at",
             "cancel_reason", "cancelled_by")
NODE_KEY = ("run_id", "node_id")
COUNT_KEY = ("workspace_id", "workflow_id", "workflow_name", "status")
# The event types as plain strings: compared for every event of every batch (an enum
# member's lookup on its class costs more than the comparison).
_RUN_CREATED = EventType.RUN_CREATED.value
_RUN_STARTED = EventType.RUN_STARTED.value
_RUN_CANCEL_REQUESTED = EventType.RUN_CANCEL_REQUESTED.value
_RUN_COMPLETED = EventType.RUN_COMPLETED.value
_RUN_FAILED = EventType.RUN_FAILED.value
_RUN_CANCELLED = EventType.RUN_CANCELLED.value
_NODE_STARTED = EventType.NODE_STARTED.value
_NODE_SKIPPED = EventType.NODE_SKIPPED.value
_NODE_PROGRESS = EventType.NODE_PROGRESS.value
_NODE_COMPLETED = EventType.NODE_COMPLETED.value
_NODE_FAILED = EventType.NODE_FAILED.value
_NODE_WAITING = EventType.NODE_WAITING.value
_NODE_CANCELLED = EventType.NODE_CANCELLED.value
_EVENTS_PRUNED = EventType.EVENTS_PRUNED.value


def _json(value: Any) -> bytes | None:
    return None if value is None else orjson.dumps(value)


def _prompt_text(prompt: Any) -> str | None:
    """A waiting node's prompt in its TEXT column: a string as it is, any other JSON value
    (an approval's object, an agent's tool call) as JSON text."""
    if prompt is None or isinstance(prompt, str):
        return prompt
    return orjson.dumps(prompt).decode()


def _error_text(error: Any) -> str | None:
    if error is None or isinstance(error, str):
        return error
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    return orjson.dumps(error).decode()


class _Node:
    """One node run's writes in a batch: what to insert if the row is missing (after a
    NodeStarted or NodeSkipped in the batch) and what to set on the row if it exists."""

    __slots__ = ("insert", "sets")

    def __init__(self) -> None:
        self.insert: dict[str, Any] | None = None
        self.sets: dict[str, Any] = {}

    def start(self, row: dict[str, Any], restart: dict[str, Any]) -> None:
        # A missing row is inserted whole; an existing one (from before the batch, or
        # inserted earlier in it) is restarted.
        if self.insert is None:
            self.insert = row
        else:
            self.insert.update(restart)
        if self.sets:
            self.sets.update(restart)
        else:
            self.sets = restart

    def set(self, values: dict[str, Any]) -> None:
        # An update of a missing row changes nothing, so it only reaches an inserted one.
        if self.insert is not None:
            self.insert.update(values)
        if self.sets:
            self.sets.update(values)
        else:
            self.sets = values


class _Batch:
    """The fold of one batch: rows as they stand after each event, written at the end."""

    def __init__(self, found_runs: FoundRows) -> None:
        # Runs known before the batch: id -> their RUN_STATE as found.
        self.found_runs = found_runs
        self.created: dict[str, dict[str, Any]] = {}  # runs created in this batch, whole
        self.changed: dict[str, dict[str, Any]] = {}  # other runs: the columns set
        self.states: dict[str, dict[str, Any]] = {}  # other runs: RUN_STATE as it now is
        self.counts: dict[tuple[str, str, str, str], int] = {}
        self.nodes: dict[tuple[str, str], _Node] = {}
        self.reruns: list[dict[str, Any]] = []
        self.pruned: list[str] = []  # runs whose rows an EventsPruned removes

    def write(self, changes: RowChanges) -> None:
        # Created runs and counters are grouped here, as node rows are below: one statement
        # shape each, built once per batch rather than once per row.
        created: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for row in self.created.values():
            created.setdefault(tuple(row), []).append(tuple(row.values()))
        for columns, rows in created.items():
            changes.add(Statement("insert", "runs", columns), rows)
        for row in self.reruns:
            changes.insert("run_reruns", row)
        for run_id, values in self.changed.items():
            changes.update("runs", {"id": run_id}, values)
        if self.counts:
            # Written even when the batch's moves cancel out: the counter row exists once
            # any run was counted in it, however the log was cut into batches.
            changes.add(Statement("increment", "run_status_counts", ("count",), COUNT_KEY),
                        [(*key, amount) for key, amount in self.counts.items()])
        # Node rows are the bulk of every batch: grouped here by the columns they set.
        updates: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        upserts: dict[tuple[tuple[str, ...], ...], list[tuple[Any, ...]]] = {}
        for (run_id, node_id), node in self.nodes.items():
            sets = node.sets
            columns = tuple(sets)
            if node.insert is None:
                group = updates.get(columns)
                if group is None:
                    group = updates[columns] = []
                group.append((*sets.values(), run_id, node_id))
            else:
                insert = node.insert
                params, copied, nulls, given = split_sets(insert, sets)
                shape = (tuple(insert), params, copied, nulls)
                group = upserts.get(shape)
                if group is None:
                    group = upserts[shape] = []
                group.append((*insert.values(), *given))
        for columns, rows in updates.items():
            changes.add(Statement("update", "node_runs", columns, NODE_KEY), rows)
        for (columns, params, copied, nulls), rows in upserts.items():
            changes.add(Statement(
                "upsert", "node_runs", columns, NODE_KEY, params, copied, nulls), rows)
        # Last: whatever the batch wrote of a pruned run before goes with it.
        for run_id in self.pruned:
            changes.delete("node_runs", {"run_id": run_id})
            changes.delete("run_reruns", {"run_id": run_id})
            changes.delete("runs", {"id": run_id})

    def count(self, state: Mapping[str, Any], status: str, amount: int) -> None:
        key = (state["workspace_id"], state["workflow_id"], state["workflow_name"], status)
        self.counts[key] = self.counts.get(key, 0) + amount

    # -- runs ------------------------------------------------------------------

    def run_event(self, event: RecordedEvent) -> None:
        run_id = event.stream
        type_ = event.type
        if type_ == _RUN_CREATED:
            if run_id not in self.created and run_id not in self.found_runs:
                self.create_run(event)
            return  # a second RunCreated of a run changes nothing
        row = self.created.get(run_id)
        if row is not None:
            values = row
        else:
            state = self.states.get(run_id)
            if state is None:
                found = self.found_runs.get(run_id)
                if found is None:
                    return  # an event for a run this projection never saw created: ignore
                state = self.states[run_id] = dict(zip(RUN_STATE, found, strict=True))
            row = state
            values = self.changed.setdefault(run_id, {})
        data = event.payload
        at = event.recorded_at
        old_status = row["status"]
        new_status = RUN_STATUS_AFTER.get(type_, old_status)
        sets: dict[str, Any] = {
            "status": new_status, "updated_at": at, "last_position": event.position}
        if type_ == _RUN_STARTED:
            if row["started_at"] is None:
                sets["started_at"] = at
        elif type_ == _RUN_CANCEL_REQUESTED:
            sets["cancel_reason"] = data.get("reason")
            sets["cancelled_by"] = data.get("by")
        elif type_ == _RUN_COMPLETED:
            sets["output"] = _json(data.get("output"))
            sets["finished_at"] = at
        elif type_ == _RUN_FAILED:
            sets["error"] = _error_text(data.get("error"))
            sets["finished_at"] = at
        elif type_ == _RUN_CANCELLED:
            reason, by = data.get("reason"), data.get("by")
            sets["cancel_reason"] = row["cancel_reason"] if reason is None else reason
            sets["cancelled_by"] = row["cancelled_by"] if by is None else by
            sets["finished_at"] = at
        values.update(sets)
        if values is not row:
            for column in RUN_STATE:
                if column in sets:
                    row[column] = sets[column]
        if new_status != old_status:
            self.count(row, old_status, -1)
            self.count(row, new_status, 1)

    def create_run(self, event: RecordedEvent) -> None:
        data = event.payload
        at = event.recorded_at
        status = RUN_STATUS_AFTER[event.type]
        row = {
            "id": event.stream, "seq": event.position, "workflow_id": data["workflowId"],
            "workflow_version": data.get("workflowVersion"),
            "workflow_name": data.get("workflowName") or "",
            "workspace_id": data["workspaceId"], "chat_id": data.get("chatId"),
            "parent_run_id": data.get("parentRunId"),
            "parent_node_id": data.get("parentNodeId"), "status": status,
            "inputs": _json(data.get("inputs", {})), "env_names": _json(data.get("envNames", [])),
            "trigger_data": _json((data.get("trigger") or {}).get("data")),
            "output": None, "error": None, "cancel_reason": None, "cancelled_by": None,
            "created_by": data.get("createdBy"), "created_at": at, "started_at": None,
            "updated_at": at, "finished_at": None, "last_position": event.position,
        }
        self.created[event.stream] = row
        self.count(row, status, 1)
        rerun_of = data.get("rerunOf")
        if rerun_of:
            self.reruns.append({"run_id": event.stream, "rerun_of": rerun_of["runId"],
                                "from_node": rerun_of.get("fromNode"), "seq": event.position})

    def prune(self, event: RecordedEvent) -> None:
        """EventsPruned: the runs' rows go and their counters drop by one each.

        Replaying a pruned log never sees those runs (their events have no data), so their
        counters never rise; `counted` names each run's counter so that the row exists after
        a replay exactly as it does live (a counter row exists once any run was counted)."""
        data = event.payload
        for run_id, key in zip(data.get("runs", []), data.get("counted", []), strict=False):
            state = self.created.pop(run_id, None) or self.states.get(run_id)
            if state is None and (found := self.found_runs.get(run_id)) is not None:
                state = dict(zip(RUN_STATE, found, strict=True))
            if state is not None:
                self.count(state, state["status"], -1)
            else:
                self.counts.setdefault((key[0], key[1], key[2], key[3]), 0)
            self.changed.pop(run_id, None)
            self.states.pop(run_id, None)
            self.pruned.append(run_id)

    # -- node runs -------------------------------------------------------------

    def node_event(self, event: RecordedEvent) -> None:
        data = event.payload
        node_id = data.get("nodeId")
        if not isinstance(node_id, str):
            return
        key = (event.stream, node_id)
        node = self.nodes.get(key)
        if node is None:
            node = self.nodes[key] = _Node()
        at = event.recorded_at
        type_ = event.type
        if type_ == _NODE_STARTED or type_ == _NODE_SKIPPED:
            status = NODE_STATUS_AFTER[type_]
            started_at = at if type_ == _NODE_STARTED else None
            attempt = data.get("attempt", 1)
            input_ = _json(data.get("input"))
            # Columns left out are NULL, as those the row's later events set may be.
            row = {
                "run_id": event.stream, "node_id": node_id,
                "id": activity_run_id(event.stream, node_id), "node_name": data.get("nodeName"),
                "node_type": data.get("nodeType"), "status": status, "attempt": attempt,
                "input": input_, "created_at": at, "started_at": started_at,
                "updated_at": at, "seq": event.position}
            node.start(row, {
                "status": status, "attempt": attempt, "input": input_,
                "started_at": started_at, "updated_at": at, "error": None, "progress": None,
                "message": None, "finished_at": None})
            return
        sets: dict[str, Any] = {"updated_at": at}
        after = node_status_after(type_, data)
        if after is not None:
            sets["status"] = after
        if "attempt" in data:
            sets["attempt"] = data["attempt"]
        if type_ == _NODE_PROGRESS:
            sets["progress"] = data.get("progress")
            sets["message"] = data.get("message")
        elif type_ == _NODE_COMPLETED:
            sets["output"] = _json(data.get("output"))
            sets["duration_ms"] = data.get("durationMs")
            sets["finished_at"] = at
            sets["progress"] = 100
        elif type_ == _NODE_FAILED:
            sets["error"] = _error_text(data.get("error"))
            sets["duration_ms"] = data.get("durationMs")
            if not data.get("willRetry"):
                sets["finished_at"] = at
        elif type_ == _NODE_WAITING:
            sets["prompt"] = _prompt_text(data.get("prompt"))
        elif type_ == _NODE_CANCELLED:
            sets["finished_at"] = at
        node.set(sets)


class RunsProjection:
    name = "runs"

    def schema(self, dialect: Dialect) -> str:
        return schema(dialect)

    def tables(self) -> list[str]:
        return list(TABLES)

    def lookups(self, events: Sequence[RecordedEvent]) -> list[RowLookup]:
        runs = {event.stream for event in events if event.type.startswith("Run")}
        for event in events:
            if event.type == _EVENTS_PRUNED:
                runs.update(event.payload.get("runs", []))
        return [RowLookup("runs", "id", RUN_STATE, runs)] if runs else []

    def fold(self, events: Sequence[RecordedEvent], found: Mapping[str, FoundRows],
             changes: RowChanges) -> None:
        batch = _Batch(found.get("runs", {}))
        run_event, node_event = batch.run_event, batch.node_event
        for event in events:
            type_ = event.type
            if type_.startswith("Node"):
                node_event(event)
            elif type_.startswith("Run"):
                run_event(event)
            elif type_ == _EVENTS_PRUNED:
                batch.prune(event)
        batch.write(changes)
