"""Each workspace's own retention policy, in a table beside the log (either backend)."""

from __future__ import annotations

from eventstore.records import utc_now
from eventstore.tables import Tables, TableStore
from service.retention.policy import RetentionPolicy

DDL = ["""CREATE TABLE IF NOT EXISTS workspace_retention (
    workspace_id   TEXT PRIMARY KEY,
    max_age_days   DOUBLE PRECISION,
    max_runs       BIGINT,
    max_bytes      BIGINT,
    updated_at     TEXT NOT NULL,
    updated_by     TEXT
)"""]


class RetentionPolicies:
    def __init__(self, store: TableStore) -> None:
        self.tables = Tables(store)

    async def ensure_schema(self) -> None:
        await self.tables.ensure_tables(DDL)

    async def get(self, workspace_id: str) -> RetentionPolicy | None:
        rows = await self.tables.fetch_all(
            "SELECT max_age_days, max_runs, max_bytes FROM workspace_retention"
            " WHERE workspace_id = ?", (workspace_id,))
        if not rows:
            return None
        age, runs, size = rows[0]
        return RetentionPolicy(age, runs, size)

    async def put(self, workspace_id: str, policy: RetentionPolicy, by: str | None) -> None:
        await self.tables.execute(
            "INSERT INTO workspace_retention (workspace_id, max_age_days, max_runs, max_bytes,"
            " updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (workspace_id)"
            " DO UPDATE SET max_age_days = excluded.max_age_days, max_runs = excluded.max_runs,"
            " max_bytes = excluded.max_bytes, updated_at = excluded.updated_at,"
            " updated_by = excluded.updated_by",
            (workspace_id, policy.max_age_days, policy.max_runs, policy.max_bytes, utc_now(), by))

    async def delete(self, workspace_id: str) -> None:
        """The workspace falls back to the service default."""
        await self.tables.execute(
            "DELETE FROM workspace_retention WHERE workspace_id = ?", (workspace_id,))

    async def all(self) -> dict[str, RetentionPolicy]:
        rows = await self.tables.fetch_all(
            "SELECT workspace_id, max_age_days, max_runs, max_bytes FROM workspace_retention")
        return {row[0]: RetentionPolicy(row[1], row[2], row[3]) for row in rows}
