"""Env values and workspace secrets: redacted from everything the engine writes, kept off the log.

With a Fernet key configured, a run's env values are stored encrypted in a table
beside the log (never in it) until the run ends, so a run resumed after a restart
still has them; without one they live only in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken

from eventstore.rows import Dialect
from eventstore.tables import Tables, TableStore

REDACTED = "***"

_SCHEMA = "CREATE TABLE IF NOT EXISTS run_secrets (run_id TEXT PRIMARY KEY, sealed {blob} NOT NULL)"
_BLOB: dict[Dialect, str] = {"sqlite": "BLOB", "postgresql": "BYTEA"}


class Redactor:
    """Replaces every occurrence of any secret value inside a JSON value with ***."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.secrets: list[str] = []
        self.add(env.values())

    def add(self, values: Iterable[str]) -> None:
        """Redact these values too (a run's workspace secrets, once they are read)."""
        # Longest first, so a secret that contains another is replaced whole.
        self.secrets = sorted({*self.secrets, *(v for v in values if isinstance(v, str) and v)},
                              key=len, reverse=True)

    def __call__(self, value: Any) -> Any:
        if not self.secrets:
            return value
        return self._redact(value)

    def _redact(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self.secrets:
                if secret in value:
                    value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, dict):
            return {self._redact(k): self._redact(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._redact(item) for item in value]
        if isinstance(value, int | float) and not isinstance(value, bool):
            # A numeric secret would otherwise slip through as a number.
            text = str(value)
            return REDACTED if text in self.secrets else value
        return value


class SecretVault:
    """Encrypted env values per run, outside the event log."""

    def __init__(self, store: TableStore, key: str | None) -> None:
        self.db = Tables(store)
        self.fernet = Fernet(key.encode()) if key else None

    async def ensure_schema(self) -> None:
        if self.fernet is not None:
            await self.db.ensure_tables([_SCHEMA.format(blob=_BLOB[self.db.dialect])])

    async def put(self, run_id: str, env: Mapping[str, str]) -> None:
        if self.fernet is None or not env:
            return
        sealed = self.fernet.encrypt(orjson.dumps(dict(env)))

        await self.db.execute(
            "INSERT INTO run_secrets (run_id, sealed) VALUES (?, ?)"
            " ON CONFLICT (run_id) DO UPDATE SET sealed = excluded.sealed", (run_id, sealed))

    async def get(self, run_id: str) -> dict[str, str] | None:
        if self.fernet is None:
            return None
        rows = await self.db.fetch_all(
            "SELECT sealed FROM run_secrets WHERE run_id = ?", (run_id,)
        )
        if not rows:
            return None
        try:
            env: dict[str, str] = orjson.loads(self.fernet.decrypt(bytes(rows[0][0])))
        except InvalidToken:
            return None
        return env

    async def drop(self, run_id: str) -> None:
        if self.fernet is None:
            return
        await self.db.execute("DELETE FROM run_secrets WHERE run_id = ?", (run_id,))
