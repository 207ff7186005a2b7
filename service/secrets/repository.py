"""Workspace secrets in a table beside the log, each value sealed with the secrets key.

Names and update times are plain (they are listed); values are Fernet tokens, opened
only when a run of the workspace starts (service/engine/runner.py) and never answered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.fernet import Fernet, InvalidToken

from eventstore.rows import Dialect
from eventstore.tables import Tables, TableStore, Transaction

# A name is what `{{secrets.NAME}}` reads: a template path segment, and an env-like word.
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
MAX_VALUE_CHARS = 16384

_SCHEMA = """CREATE TABLE IF NOT EXISTS workspace_secrets (
    workspace_id TEXT NOT NULL,
    name         TEXT NOT NULL,
    sealed       {blob} NOT NULL,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (workspace_id, name)
)"""

_BLOB: dict[Dialect, str] = {"sqlite": "BLOB", "postgresql": "BYTEA"}

_NAME = re.compile(NAME_PATTERN)


class SecretsUnavailable(RuntimeError):
    """No secrets key is configured, so no secret can be stored or read."""


class BadSecret(ValueError):
    """A name or a value that cannot be stored."""


@dataclass(frozen=True, slots=True)
class SecretInfo:
    """What anyone allowed may know of a secret: never its value."""

    name: str
    updated_at: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "updatedAt": self.updated_at}


def check_secret(name: str, value: str | None = None) -> None:
    """Raise BadSecret for a name templates could not read or a value out of bounds."""
    if not _NAME.match(name):
        raise BadSecret(f"secret name {name!r} must match {NAME_PATTERN}")
    if value is not None and not 0 < len(value) <= MAX_VALUE_CHARS:
        raise BadSecret(f"a secret value holds 1 to {MAX_VALUE_CHARS} characters")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class WorkspaceSecrets:
    """Put, list, delete and open the secrets of workspaces."""

    def __init__(self, store: TableStore, fernet: Fernet | None) -> None:
        self.db = Tables(store)
        self.fernet = fernet

    async def ensure_schema(self) -> None:
        await self.db.ensure_tables([_SCHEMA.format(blob=_BLOB[self.db.dialect])])

    def _sealer(self) -> Fernet:
        if self.fernet is None:
            raise SecretsUnavailable("no secrets key is configured")
        return self.fernet

    async def put(self, workspace_id: str, name: str, value: str) -> tuple[SecretInfo, bool]:
        """Store (or replace) a value; the secret's info and whether it is new."""
        check_secret(name, value)
        sealed = self._sealer().encrypt(value.encode())
        updated_at = _now()

        async def write(tx: Transaction) -> bool:
            existed = (await tx.execute(
                "SELECT 1 FROM workspace_secrets WHERE workspace_id = ? AND name = ?",
                (workspace_id, name))).first() is not None
            await tx.execute(
                "INSERT INTO workspace_secrets (workspace_id, name, sealed, updated_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (workspace_id, name) DO UPDATE"
                " SET sealed = excluded.sealed, updated_at = excluded.updated_at",
                (workspace_id, name, sealed, updated_at))
            return not existed

        created = await self.db.write(write)
        return SecretInfo(name, updated_at), bool(created)

    async def list(self, workspace_id: str) -> list[SecretInfo]:
        rows = await self.db.fetch_all(
            "SELECT name, updated_at FROM workspace_secrets WHERE workspace_id = ? "
            "ORDER BY name", (workspace_id,))
        return [SecretInfo(name, updated_at) for name, updated_at in rows]

    async def delete(self, workspace_id: str, name: str) -> bool:
        """Remove a secret; whether there was one."""

        removed = await self.db.execute(
            "DELETE FROM workspace_secrets WHERE workspace_id = ? AND name = ?",
            (workspace_id, name))
        return removed > 0

    async def value(self, workspace_id: str, name: str) -> str | None:
        """One secret, opened (a webhook's signing key; never for an answer); None when
        there is none, no key, or it was sealed with another key."""
        if self.fernet is None:
            return None
        rows = await self.db.fetch_all(
            "SELECT sealed FROM workspace_secrets WHERE workspace_id = ? AND name = ?",
            (workspace_id, name))
        if not rows:
            return None
        try:
            return self.fernet.decrypt(bytes(rows[0][0])).decode()
        except InvalidToken:
            return None

    async def values(self, workspace_id: str) -> dict[str, str]:
        """Every secret of the workspace, opened (for a run of it; never for an answer).

        Without a key nothing can be opened, so a run sees no secrets; a value sealed
        with another key is left out the same way rather than failing the run here.
        """
        if self.fernet is None:
            return {}
        rows = await self.db.fetch_all(
            "SELECT name, sealed FROM workspace_secrets WHERE workspace_id = ?",
            (workspace_id,))
        opened = {}
        for name, sealed in rows:
            try:
                opened[str(name)] = self.fernet.decrypt(bytes(sealed)).decode()
            except InvalidToken:
                continue
        return opened
