"""Read queries over the run projections, returning canonical (dialect-neutral) views."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from eventstore.rows import Dialect
from eventstore.tables import native

RUN_COLUMNS = (
    "id, workflow_id, workflow_version, workflow_name, workspace_id, chat_id, parent_run_id,"
    " parent_node_id, status, inputs, env_names, trigger_data, output, error, cancel_reason,"
    " cancelled_by, created_by, created_at, started_at, updated_at, finished_at, last_position"
)
RUN_KEYS = (
    "id", "workflowId", "workflowVersion", "workflowName", "workspaceId", "chatId",
    "parentRunId", "parentNodeId", "status", "inputs", "envNames", "triggerData", "output",
    "error", "cancelReason", "cancelledBy", "createdBy", "createdAt", "startedAt", "updatedAt",
    "finishedAt", "lastPosition",
)
# What started the run (projections/run_triggers.py): no row means a caller of the API.
RUN_SELECT = (
    f"SELECT {RUN_COLUMNS},"
    " (SELECT kind FROM run_triggers t WHERE t.run_id = runs.id),"
    " (SELECT trigger_id FROM run_triggers t WHERE t.run_id = runs.id) FROM runs"
)
NODE_COLUMNS = (
    "id, run_id, node_id, node_name, node_type, status, attempt, input, output, error,"
    " progress, message, prompt, created_at, started_at, updated_at, finished_at, duration_ms,"
    " seq"
)
NODE_KEYS = (
    "id", "runId", "nodeId", "nodeName", "nodeType", "status", "attempt", "input", "output",
    "error", "progress", "message", "prompt", "createdAt", "startedAt", "updatedAt",
    "finishedAt", "durationMs", "seq",
)
JSON_KEYS = frozenset({"inputs", "envNames", "triggerData", "output", "input"})


def _run_view(row: Sequence[Any]) -> dict[str, Any]:
    view = _view(RUN_KEYS, row[:-2])
    kind, trigger_id = row[-2:]
    view["triggeredBy"] = {"kind": kind or "api", "id": trigger_id}
    return view


def _view(keys: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
    view = dict(zip(keys, row, strict=True))
    for key in JSON_KEYS.intersection(view):
        if view[key] is not None:
            view[key] = orjson.loads(view[key])
    return view


@dataclass(frozen=True)
class RunFilter:
    """What a run list may be narrowed by; `workspace_ids` None means every workspace."""

    workspace_ids: Sequence[str] | None = None
    workflow_id: str | None = None
    status: str | None = None
    name_search: str | None = None
    chat_id: str | None = None
    triggered_by: str | None = None  # api, schedule or webhook
    trigger_id: str | None = None  # the schedule's or webhook's id


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class ReadModels(Protocol):
    """What the queries need of a store: its dialect and a way to run a read."""

    dialect: Dialect

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Any]: ...


class _Reads:
    """Reads written once with `?` for parameters, in the words both backends share."""

    def __init__(self, store: ReadModels) -> None:
        self._store = store

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Any]:
        return await self._store.fetch_all(native(sql, self._store.dialect), params)


class RunQueries:
    def __init__(self, store: ReadModels) -> None:
        self._store = _Reads(store)
        self._sqlite = store.dialect == "sqlite"
        # A name search ignores case on both: SQLite's LIKE does (for ASCII), PostgreSQL's not.
        self._like = "LIKE" if self._sqlite else "ILIKE"

    async def get_run(self, run_id: str) -> dict[str, Any] | None:
        rows = await self._store.fetch_all(f"{RUN_SELECT} WHERE id = ?", (run_id,))
        return _run_view(rows[0]) if rows else None

    async def node_runs(self, run_id: str) -> list[dict[str, Any]]:
        rows = await self._store.fetch_all(
            f"SELECT {NODE_COLUMNS} FROM node_runs WHERE run_id = ? ORDER BY seq", (run_id,)
        )
        return [_view(NODE_KEYS, row) for row in rows]

    async def node_run(self, run_id: str, node_id: str) -> dict[str, Any] | None:
        rows = await self._store.fetch_all(
            f"SELECT {NODE_COLUMNS} FROM node_runs WHERE run_id = ? AND node_id = ?",
            (run_id, node_id),
        )
        return _view(NODE_KEYS, rows[0]) if rows else None

    async def _matching_names(self, run_filter: RunFilter) -> list[str]:
        """Workflow names matching a search, from the small counts table, not from runs."""
        assert run_filter.name_search is not None
        rows = await self._store.fetch_all(
            "SELECT DISTINCT workflow_name FROM run_status_counts WHERE workflow_name"
            f" {self._like} ? ESCAPE '\\'",
            (_like_pattern(run_filter.name_search),),
        )
        return [row[0] for row in rows]

    def _where(
        self, run_filter: RunFilter, names: list[str] | None
    ) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if run_filter.workspace_ids is not None:
            # With a name search, `+` keeps SQLite off the workspace index: the name
            # index already carries the workspace and pages in seq order.
            column = "+workspace_id" if names is not None and self._sqlite else "workspace_id"
            marks = ", ".join("?" * len(run_filter.workspace_ids))
            clauses.append(f"{column} IN ({marks})")
            params += list(run_filter.workspace_ids)
        if run_filter.workflow_id is not None:
            clauses.append("workflow_id = ?")
            params.append(run_filter.workflow_id)
        if run_filter.status is not None:
            clauses.append("status = ?")
            params.append(run_filter.status)
        if names is not None:
            clauses.append(f"workflow_name IN ({', '.join('?' * len(names))})")
            params += names
        return clauses, params

    async def list_runs(
        self, run_filter: RunFilter, offset: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of runs, newest first, and the total matching (from the counters)."""
        if run_filter.workspace_ids is not None and not run_filter.workspace_ids:
            return [], 0
        names = await self._matching_names(run_filter) if run_filter.name_search else None
        if names is not None and not names:
            return [], 0
        clauses, params = self._where(run_filter, names)
        if run_filter.chat_id is not None:
            clauses.append("chat_id = ?")
            params.append(run_filter.chat_id)
        by_trigger = run_filter.triggered_by is not None or run_filter.trigger_id is not None
        if run_filter.triggered_by == "api":
            clauses.append("id NOT IN (SELECT run_id FROM run_triggers)")
        elif by_trigger:
            trigger_clauses, trigger_params = [], []
            if run_filter.triggered_by is not None:
                trigger_clauses.append("kind = ?")
                trigger_params.append(run_filter.triggered_by)
            if run_filter.trigger_id is not None:
                trigger_clauses.append("trigger_id = ?")
                trigger_params.append(run_filter.trigger_id)
            clauses.append("id IN (SELECT run_id FROM run_triggers WHERE "
                           f"{' AND '.join(trigger_clauses)})")
            params += trigger_params
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        # Page over the narrow seq index first, then read only that page's rows.
        rows = await self._store.fetch_all(
            f"{RUN_SELECT} WHERE seq IN (SELECT seq FROM runs {where}"
            " ORDER BY seq DESC LIMIT ? OFFSET ?) ORDER BY seq DESC",
            [*params, limit, offset],
        )
        if run_filter.chat_id is not None or by_trigger:
            count_rows = await self._store.fetch_all(
                f"SELECT COUNT(*) FROM runs {where}", params
            )
            total = int(count_rows[0][0])
        else:
            count_clauses, count_params = self._where(run_filter, names)
            count_where = f"WHERE {' AND '.join(count_clauses)}" if count_clauses else ""
            count_rows = await self._store.fetch_all(
                f"SELECT COALESCE(SUM(count), 0) FROM run_status_counts {count_where}",
                count_params,
            )
            total = int(count_rows[0][0])
        return [_run_view(row) for row in rows], total

    async def status_counts(
        self, workflow_id: str, workspace_ids: Sequence[str] | None
    ) -> dict[str, int]:
        run_filter = RunFilter(workspace_ids=workspace_ids, workflow_id=workflow_id)
        if workspace_ids is not None and not workspace_ids:
            return {}
        clauses, params = self._where(run_filter, None)
        rows = await self._store.fetch_all(
            "SELECT status, SUM(count) FROM run_status_counts"
            f" WHERE {' AND '.join(clauses)} GROUP BY status",
            params,
        )
        return {status: int(count) for status, count in rows}

    async def rerun_links(self, run_id: str) -> dict[str, Any]:
        """The run this one reruns (`rerunOf`: runId, fromNode) and its own reruns, oldest
        first (`reruns`)."""
        of = await self._store.fetch_all(
            "SELECT rerun_of, from_node FROM run_reruns WHERE run_id = ?", (run_id,))
        reruns = await self._store.fetch_all(
            "SELECT run_id FROM run_reruns WHERE rerun_of = ? ORDER BY seq", (run_id,))
        return {"rerunOf": {"runId": of[0][0], "fromNode": of[0][1]} if of else None,
                "reruns": [row[0] for row in reruns]}

    async def child_runs(self, run_id: str) -> list[str]:
        rows = await self._store.fetch_all("SELECT id FROM runs WHERE parent_run_id = ?", (run_id,))
        return [row[0] for row in rows]
