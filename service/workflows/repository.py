"""Workflows per workspace, each update an immutable new version (tables beside the log)."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from eventstore.rows import Dialect
from eventstore.tables import Tables, TableStore, Transaction
from service.engine.registry import NodeRegistry, default_registry
from service.workflows.definition import WorkflowDefinition, parse_definition
from service.workflows.errors import WorkflowNotFound, WorkflowVersionNotFound

_WORKFLOWS = """CREATE TABLE IF NOT EXISTS workflows (
    id             TEXT PRIMARY KEY,
    workspace_id   TEXT NOT NULL,
    name           TEXT NOT NULL,
    latest_version INTEGER NOT NULL,
    created_by     TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL{order}
)"""
_VERSIONS = """CREATE TABLE IF NOT EXISTS workflow_versions (
    workflow_id TEXT NOT NULL REFERENCES workflows (id),
    version     INTEGER NOT NULL,
    definition  {blob} NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (workflow_id, version)
)"""
_INDEX = "CREATE INDEX IF NOT EXISTS workflows_workspace_name ON workflows (workspace_id, name)"

# Workflows created in the same millisecond are listed in the order they were created:
# SQLite's rowid says it, PostgreSQL has no such column and is given one.
_CREATION_ORDER: dict[Dialect, str] = {"sqlite": "w.rowid", "postgresql": "w.seq"}
# A name search ignores case on both: SQLite's LIKE does (for ASCII), PostgreSQL's not.
_LIKE: dict[Dialect, str] = {"sqlite": "LIKE", "postgresql": "ILIKE"}


def schema(dialect: Dialect) -> list[str]:
    """The workflow tables' DDL on `dialect`."""
    if dialect == "postgresql":
        workflows = _WORKFLOWS.format(order=",\n    seq BIGINT GENERATED ALWAYS AS IDENTITY")
        return [workflows, _VERSIONS.format(blob="BYTEA"), _INDEX]
    return [_WORKFLOWS.format(order=""), _VERSIONS.format(blob="BLOB"), _INDEX]

_SELECT = (
    "SELECT w.id, w.workspace_id, w.name, v.version, v.definition, v.created_by, "
    "w.created_at, v.created_at, w.latest_version FROM workflows w "
    "JOIN workflow_versions v ON v.workflow_id = w.id "
)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass(frozen=True, slots=True)
class Workflow:
    """One version of a workflow; `definition` is the JSON as saved."""

    id: str
    workspace_id: str
    name: str
    version: int
    definition: dict[str, Any]
    created_by: str
    created_at: str
    updated_at: str
    latest_version: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "workspaceId": self.workspace_id, "name": self.name,
            "version": self.version, "latestVersion": self.latest_version,
            "definition": self.definition, "createdBy": self.created_by,
            "createdAt": self.created_at, "updatedAt": self.updated_at,
        }


def _row(row: Any) -> Workflow:
    return Workflow(
        id=row[0], workspace_id=row[1], name=row[2], version=row[3],
        definition=orjson.loads(row[4]), created_by=row[5], created_at=row[6],
        updated_at=row[7], latest_version=row[8],
    )


class WorkflowRepository:
    """Create, update, read and list workflows; writes go through the store's one writer."""

    def __init__(self, store: TableStore, registry: NodeRegistry | None = None) -> None:
        self.store = store
        self.db = Tables(store)
        self._order = _CREATION_ORDER[self.db.dialect]
        # The engine's registry is the one source of node types.
        self.registry = registry if registry is not None else default_registry()
        self._parsed: dict[tuple[str, int], tuple[Workflow, WorkflowDefinition]] = {}

    async def ensure_schema(self) -> None:
        await self.db.ensure_tables(schema(self.db.dialect))

    def validate(self, definition: Mapping[str, Any]) -> WorkflowDefinition:
        """Parse a definition; raises WorkflowInvalid with the offending node ids."""
        return parse_definition(definition, self.registry)

    async def create(
        self, workspace_id: str, definition: Mapping[str, Any], created_by: str
    ) -> Workflow:
        parsed = self.validate(definition)
        workflow_id = str(uuid.uuid4())
        body = orjson.dumps(definition)
        now = _now()

        async def write(tx: Transaction) -> None:
            await tx.execute(
                "INSERT INTO workflows (id, workspace_id, name, latest_version, created_by,"
                " created_at, updated_at) VALUES (?, ?, ?, 1, ?, ?, ?)",
                (workflow_id, workspace_id, parsed.name, created_by, now, now),
            )
            await tx.execute(
                "INSERT INTO workflow_versions (workflow_id, version, definition, created_by,"
                " created_at) VALUES (?, 1, ?, ?, ?)",
                (workflow_id, body, created_by, now),
            )

        await self.db.write(write)
        return await self.get(workflow_id)

    async def update(
        self,
        workflow_id: str,
        definition: Mapping[str, Any],
        updated_by: str,
        workspace_id: str | None = None,
    ) -> Workflow:
        """Save `definition` as the next version; earlier versions never change."""
        parsed = self.validate(definition)
        await self.get(workflow_id, workspace_id)
        body = orjson.dumps(definition)
        now = _now()

        async def write(tx: Transaction) -> int:
            # Taking the next number in the UPDATE makes concurrent saves take turns on
            # the row (PostgreSQL's row lock; SQLite has one writer).
            (version,) = (await tx.execute(
                "UPDATE workflows SET latest_version = latest_version + 1, name = ?,"
                " updated_at = ? WHERE id = ? RETURNING latest_version",
                (parsed.name, now, workflow_id))).rows[0]
            await tx.execute(
                "INSERT INTO workflow_versions (workflow_id, version, definition, created_by,"
                " created_at) VALUES (?, ?, ?, ?, ?)",
                (workflow_id, version, body, updated_by, now),
            )
            return int(version)

        version = await self.db.write(write)
        return await self.get_version(workflow_id, version)

    async def get(self, workflow_id: str, workspace_id: str | None = None) -> Workflow:
        """The latest version; WorkflowNotFound if missing or in another workspace."""
        rows = await self.db.fetch_all(
            _SELECT + "AND v.version = w.latest_version WHERE w.id = ?", (workflow_id,)
        )
        if not rows or (workspace_id is not None and rows[0][1] != workspace_id):
            raise WorkflowNotFound(workflow_id)
        return _row(rows[0])

    async def get_version(
        self, workflow_id: str, version: int, workspace_id: str | None = None
    ) -> Workflow:
        rows = await self.db.fetch_all(
            _SELECT + "AND v.version = ? WHERE w.id = ?", (version, workflow_id)
        )
        if not rows or (workspace_id is not None and rows[0][1] != workspace_id):
            await self.get(workflow_id, workspace_id)
            raise WorkflowVersionNotFound(workflow_id, version)
        return _row(rows[0])

    async def find_by_name(self, workspace_id: str, name: str) -> Workflow | None:
        """The most recently created workflow of that name in the workspace, if any."""
        rows = await self.db.fetch_all(
            _SELECT + "AND v.version = w.latest_version WHERE w.workspace_id = ? AND w.name = ? "
            f"ORDER BY w.created_at DESC, {self._order} DESC LIMIT 1",
            (workspace_id, name),
        )
        return _row(rows[0]) if rows else None

    async def list(
        self, workspace_id: str, search: str | None = None, limit: int = 100, offset: int = 0
    ) -> tuple[list[Workflow], int]:
        """Latest versions in a workspace, newest first, and the total count."""
        where, params = "w.workspace_id = ?", [workspace_id]
        if search:
            where += f" AND w.name {_LIKE[self.db.dialect]} ? ESCAPE '\\'"
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params.append(f"%{escaped}%")
        rows = await self.db.fetch_all(
            _SELECT + f"AND v.version = w.latest_version WHERE {where} "
            f"ORDER BY w.created_at DESC, {self._order} DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        total = await self.db.fetch_all(
            f"SELECT COUNT(*) FROM workflows w WHERE {where}", params
        )
        return [_row(row) for row in rows], int(total[0][0])

    async def list_versions(self, workflow_id: str) -> builtins.list[int]:
        rows = await self.db.fetch_all(
            "SELECT version FROM workflow_versions WHERE workflow_id = ? ORDER BY version",
            (workflow_id,),
        )
        if not rows:
            raise WorkflowNotFound(workflow_id)
        return [row[0] for row in rows]

    async def parsed(self, workflow_id: str, version: int) -> tuple[Workflow, WorkflowDefinition]:
        """A stored version and its parsed definition (versions are immutable: cached)."""
        key = (workflow_id, version)
        cached = self._parsed.get(key)
        if cached is None:
            workflow = await self.get_version(workflow_id, version)
            cached = self._parsed[key] = (
                workflow, parse_definition(workflow.definition, self.registry, stored=True))
        return cached
