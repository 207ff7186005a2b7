"""Webhooks of workflows and their deliveries, in tables beside the log.

A webhook's settings (auth, signature, response mode, ...) are kept as one JSON document:
they are read whole on every delivery and never queried by field. Its secret is a
workspace secret named in those settings (service/secrets/), so no value is stored here.
Deliveries are kept `retention_s` and pruned when one is recorded (on write, those of
every webhook), so the table needs no task of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import orjson

from eventstore.rows import Dialect
from eventstore.tables import Tables, TableStore, Transaction

HOOKS_PREFIX = "/hooks/"
RESPONSE_MODES = ("immediate", "minimal", "lastNode", "stream")
AUTH_KINDS = ("none", "token", "hmac")
SIGNATURE_FORMATS = ("hex", "base64", "stripe")
HMAC_ALGORITHMS = ("sha1", "sha256", "sha512")
METHODS = ("POST", "PUT", "GET")
# What a delivery's credentials came to: checked and good or bad, absent, out of the
# timestamp window, nothing asked (auth none), or refused before they were looked at.
SIGNATURE_RESULTS = ("valid", "invalid", "missing", "stale", "unsigned", "unchecked")
DEFAULT_DELIVERIES = 50
MAX_DELIVERIES = 100

# Seconds since the epoch: PostgreSQL's REAL has too few digits for them.
_SECONDS: dict[Dialect, str] = {"sqlite": "REAL", "postgresql": "DOUBLE PRECISION"}
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS webhooks (
        id           TEXT PRIMARY KEY,
        workflow_id  TEXT NOT NULL,
        workspace_id TEXT NOT NULL,
        config       TEXT NOT NULL,
        created_by   TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS webhooks_workflow ON webhooks (workflow_id, created_at)",
    """CREATE TABLE IF NOT EXISTS webhook_deliveries (
        id          TEXT PRIMARY KEY,
        webhook_id  TEXT NOT NULL,
        received_s  {seconds} NOT NULL,
        received_at TEXT NOT NULL,
        method      TEXT NOT NULL,
        status      INTEGER NOT NULL,
        signature   TEXT NOT NULL,
        run_id      TEXT,
        is_repeat   INTEGER NOT NULL,
        message     TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_by_hook"
    " ON webhook_deliveries (webhook_id, received_s)",
    # Pruning goes by age over every webhook: a webhook gone quiet keeps nothing old.
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_age ON webhook_deliveries (received_s)",
)
_COLUMNS = ("id", "workflow_id", "workspace_id", "config", "created_by", "created_at",
            "updated_at")
_DELIVERY_COLUMNS = ("id", "received_at", "method", "status", "signature", "run_id",
                     "is_repeat", "message")


def iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def hook_path(webhook_id: str) -> str:
    return f"{HOOKS_PREFIX}{webhook_id}"


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    workflow_id: str
    workspace_id: str
    # The API's fields as sent and checked (service/views/webhook_requests.py).
    config: dict[str, Any]
    created_by: str
    created_at: str
    updated_at: str

    @property
    def enabled(self) -> bool:
        return bool(self.config.get("enabled", True))

    @property
    def auth(self) -> str:
        return str(self.config["auth"])

    @property
    def response_mode(self) -> str:
        mode = str(self.config.get("responseMode", "immediate"))
        return "immediate" if mode == "minimal" else mode

    @property
    def methods(self) -> list[str]:
        return list(self.config.get("methods") or ["POST", "PUT"])

    @property
    def idempotency_header(self) -> str | None:
        header = self.config.get("idempotencyHeader")
        return str(header) if header else None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Webhook:
        values = dict(zip(_COLUMNS, row, strict=True))
        values["config"] = orjson.loads(values["config"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One request to a webhook's URL and what it was answered."""

    webhook_id: str
    method: str
    status: int
    signature: str
    run_id: str | None = None
    repeat: bool = False  # an idempotent repeat: it named the run an earlier one started
    message: str | None = None


class WebhookRepository:
    def __init__(self, store: TableStore, retention_s: float) -> None:
        self.db = Tables(store)
        self.retention_s = retention_s

    async def ensure_schema(self) -> None:
        seconds = _SECONDS[self.db.dialect]
        await self.db.ensure_tables([s.format(seconds=seconds) for s in _SCHEMA])

    async def create(self, workflow_id: str, workspace_id: str, created_by: str,
                     config: dict[str, Any], now: datetime) -> Webhook:
        # uuid4 is 122 bits from os.urandom: the URL cannot be guessed or enumerated.
        at = iso(now)
        webhook = Webhook(str(uuid.uuid4()), workflow_id, workspace_id, config, created_by,
                          at, at)
        await self.db.execute(
            f"INSERT INTO webhooks ({', '.join(_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (webhook.id, workflow_id, workspace_id, orjson.dumps(config).decode(),
             created_by, at, at))
        return webhook

    async def get(self, webhook_id: str) -> Webhook | None:
        rows = await self.db.fetch_all(
            f"SELECT {', '.join(_COLUMNS)} FROM webhooks WHERE id = ?", (webhook_id,))
        return Webhook.from_row(rows[0]) if rows else None

    async def of_workflow(self, workflow_id: str) -> list[Webhook]:
        rows = await self.db.fetch_all(
            f"SELECT {', '.join(_COLUMNS)} FROM webhooks WHERE workflow_id = ? "
            "ORDER BY created_at, id", (workflow_id,))
        return [Webhook.from_row(row) for row in rows]

    async def update(self, webhook: Webhook, config: dict[str, Any],
                     now: datetime) -> Webhook:
        updated = replace(webhook, config=config, updated_at=iso(now))
        await self.db.execute(
            "UPDATE webhooks SET config = ?, updated_at = ? WHERE id = ?",
            (orjson.dumps(config).decode(), updated.updated_at, webhook.id))
        return updated

    async def delete(self, webhook_id: str) -> bool:
        """Remove a webhook and its deliveries; whether there was one."""

        async def unit(tx: Transaction) -> bool:
            await tx.execute("DELETE FROM webhook_deliveries WHERE webhook_id = ?",
                             (webhook_id,))
            return (await tx.execute("DELETE FROM webhooks WHERE id = ?",
                                     (webhook_id,))).rowcount > 0

        return bool(await self.db.write(unit))

    async def record(self, delivery: Delivery, now: float) -> str:
        """Keep `delivery` (received at `now`, seconds since the epoch) and drop every
        delivery older than the retention; the new delivery's id."""
        delivery_id = str(uuid.uuid4())
        received_at = iso(datetime.fromtimestamp(now, UTC))

        async def unit(tx: Transaction) -> None:
            await tx.execute("DELETE FROM webhook_deliveries WHERE received_s < ?",
                             (now - self.retention_s,))
            await tx.execute(
                "INSERT INTO webhook_deliveries (id, webhook_id, received_s, received_at,"
                " method, status, signature, run_id, is_repeat, message)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (delivery_id, delivery.webhook_id, now, received_at, delivery.method,
                 delivery.status, delivery.signature, delivery.run_id, int(delivery.repeat),
                 delivery.message))

        await self.db.write(unit)
        return delivery_id

    async def deliveries(self, webhook_id: str, limit: int, now: float) -> list[dict[str, Any]]:
        """The webhook's deliveries within the retention, newest first."""
        rows = await self.db.fetch_all(
            f"SELECT {', '.join(_DELIVERY_COLUMNS)} FROM webhook_deliveries"
            " WHERE webhook_id = ? AND received_s >= ? ORDER BY received_s DESC, id LIMIT ?",
            (webhook_id, now - self.retention_s, limit))
        answers = []
        for row in rows:
            values = dict(zip(_DELIVERY_COLUMNS, row, strict=True))
            answers.append({
                "id": values["id"], "receivedAt": values["received_at"],
                "method": values["method"], "status": int(values["status"]),
                "signature": values["signature"], "runId": values["run_id"],
                "repeat": bool(values["is_repeat"]), "message": values["message"]})
        return answers
