"""Signed checkpoints of the log's head, kept in a table beside the log.

Not events: a checkpoint signs the head, and an event recording it would move the head
it signs (the next checkpoint would always sign its predecessor's record). Nor are the
rows what proves anything: a checkpoint is worth what an auditor saved of it elsewhere;
the table only lets the service list what it signed (docs/audit.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from eventstore.hashchain import GENESIS_HASH
from eventstore.interface import EventStore
from eventstore.records import utc_now
from eventstore.rows import Dialect
from eventstore.tables import Tables
from service.audit.signing import key_id, public_key_text, sign, signed_message

SCHEMA = """CREATE TABLE IF NOT EXISTS audit_checkpoints (
    id        {id} PRIMARY KEY,
    position  BIGINT NOT NULL,
    hash      TEXT NOT NULL,
    signed_at TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    signature TEXT NOT NULL
)"""
COLUMNS = "position, hash, signed_at, key_id, signature"
# The order of signing: SQLite's rowid, a sequence on PostgreSQL.
ID_TYPES: dict[Dialect, str] = {"sqlite": "INTEGER", "postgresql": "BIGSERIAL"}


@dataclass(frozen=True, slots=True)
class Checkpoint:
    position: int
    hash: str
    signed_at: str
    key_id: str
    signature: str

    def as_dict(self) -> dict[str, Any]:
        """The checkpoint as it is answered, saved and checked (`checkpoint verify`)."""
        return {"position": self.position, "hash": self.hash, "signedAt": self.signed_at,
                "keyId": self.key_id, "signature": self.signature}


class Checkpoints:
    """Sign the head now, and list what was signed, newest first."""

    def __init__(self, store: EventStore, key: Ed25519PrivateKey) -> None:
        self.store = store
        self.db = Tables(store)
        self.key = key
        self.public_key = public_key_text(key.public_key())
        self.key_id = key_id(key.public_key())

    async def ensure_schema(self) -> None:
        await self.db.ensure_tables([SCHEMA.format(id=ID_TYPES[self.db.dialect])])

    async def _head(self) -> tuple[int, str]:
        position = await self.store.head()
        if position == 0:
            return 0, GENESIS_HASH
        last = await self.store.read(None, position - 1, 1)
        return position, last[0].hash

    async def sign_head(self) -> Checkpoint:
        position, head_hash = await self._head()
        signed_at = utc_now()
        signature = sign(self.key, signed_message(position, head_hash, signed_at, self.key_id))
        checkpoint = Checkpoint(position, head_hash, signed_at, self.key_id, signature)
        await self.db.execute(
            f"INSERT INTO audit_checkpoints ({COLUMNS}) VALUES (?, ?, ?, ?, ?)",
            (position, head_hash, signed_at, self.key_id, signature))
        return checkpoint

    async def newest(self, limit: int) -> list[Checkpoint]:
        rows = await self.db.fetch_all(
            f"SELECT {COLUMNS} FROM audit_checkpoints ORDER BY id DESC LIMIT ?", (limit,))
        return [Checkpoint(int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in rows]

    async def count(self) -> int:
        rows = await self.db.fetch_all("SELECT COUNT(*) FROM audit_checkpoints")
        return int(rows[0][0])
