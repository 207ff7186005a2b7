"""`runstream migrate --to postgresql://...`: move a SQLite data directory onto PostgreSQL.

The log is copied with its positions and hashes, every table beside it (identities,
workflows, secrets, schedules, idempotency keys, checkpoints, ...) row for row, and
the projections are folded again on the target (eventstore/postgres_import.py does
that in one transaction). The target's tables are created first exactly as the app
creates them, so a table the app has and this list lacks stops the migration rather
than being left behind. Afterwards the target's chain is verified and must end on the
source's head hash, and the source's key fingerprints are recorded there
(service/cluster_keys.py): nodes serving the target must use the same keys.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import orjson

from eventstore.errors import StoreUnavailable
from eventstore.interface import EventStore
from eventstore.postgres import verify_url
from eventstore.postgres_import import ImportRefused, import_sqlite
from eventstore.sqlite import verify_file
from projections import all_projections
from service.audit.checkpoints import Checkpoints
from service.audit.signing import load_signing_key
from service.auth.repository import AuthRepository
from service.auth.throttle import LoginThrottle, ThrottleLimits
from service.cluster_keys import ClusterKeys, node_fingerprints
from service.commands import add_data_options, existing_database, settings_from
from service.engine.secrets import SecretVault
from service.node_registry import NodeRegistry
from service.progress import Progress
from service.retention.repository import RetentionPolicies
from service.secrets.key import secrets_key
from service.secrets.repository import WorkspaceSecrets
from service.settings import Settings
from service.store import open_event_store
from service.triggers.idempotency import IdempotencyKeys
from service.triggers.schedules import ScheduleRepository
from service.triggers.webhooks import WebhookRepository
from service.workflows.repository import WorkflowRepository


class MigrationFailed(Exception):
    """The migration was refused or did not end with the source's history on the target."""


async def ensure_tables_beside_log(store: EventStore, settings: Settings) -> None:
    """Every table the app keeps beside the log, created as the app creates it."""
    for ensure in (
        AuthRepository(store).ensure_schema,
        WorkflowRepository(store).ensure_schema,
        SecretVault(store, secrets_key(settings)).ensure_schema,
        WorkspaceSecrets(store, None).ensure_schema,
        IdempotencyKeys(store).ensure_schema,
        ScheduleRepository(store).ensure_schema,
        WebhookRepository(store, settings.webhook_delivery_retention_s).ensure_schema,
        Checkpoints(store, load_signing_key(settings)).ensure_schema,
        ClusterKeys(store).ensure_schema,
        LoginThrottle(store, ThrottleLimits(0, 0, 1.0)).ensure_schema,
        NodeRegistry(store, settings.node_name).ensure_schema,
        RetentionPolicies(store).ensure_schema,
    ):
        await ensure()


class StageProgress:
    """The progress of each stage in turn (the log, each table, the projections, the
    verify) on stderr, through service/progress.py: a line redrawn on a terminal, one JSON
    summary per stage otherwise."""

    def __init__(self) -> None:
        self.current: Progress | None = None
        self.stage = ""

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            self.finish()
            unit = "events" if stage in ("events", "projections", "verify") else "rows"
            self.current, self.stage = Progress(f"migrate: {stage}", total, unit), stage
        assert self.current is not None
        self.current.update(done, total)

    def finish(self, ok: bool = True) -> None:
        if self.current is not None:
            self.current.finish(ok)
            self.current = None


async def migrate(settings: Settings, target_url: str,
                  shown: StageProgress | None = None) -> dict[str, Any]:
    """Copy the data directory of `settings` into the empty database at `target_url`."""
    shown = shown or StageProgress()
    try:
        return await _migrate(settings, target_url, shown)
    except BaseException:
        shown.finish(ok=False)
        raise
    finally:
        shown.finish()


async def _migrate(settings: Settings, target_url: str, shown: StageProgress) -> dict[str, Any]:
    source = existing_database(settings)
    before = await asyncio.to_thread(verify_file, source)
    if not before.ok:
        raise MigrationFailed(
            f"the source's chain does not hold at position {before.first_bad_position}: "
            f"{before.reason} (runstream verify says more)")
    target_settings = settings.model_copy(update={"database_url": target_url})
    store = await open_event_store(target_settings)
    try:
        await ensure_tables_beside_log(store, settings)
    finally:
        await store.close()
    try:
        report = await import_sqlite(source, target_url, all_projections(), shown)
    except ImportRefused as exc:
        raise MigrationFailed(str(exc)) from None
    store = await open_event_store(target_settings)
    try:
        # The source's keys become the cluster's: a node with other keys will not start.
        await ClusterKeys(store).check(node_fingerprints(settings))
    finally:
        await store.close()
    after = await verify_url(target_url, lambda done, total: shown("verify", done, total))
    result = {
        "events": report.events, "head": after.head, "headHash": after.head_hash,
        "sourceHeadHash": before.head_hash, "tables": report.rows,
        "verified": after.ok and after.head == before.head
        and after.head_hash == before.head_hash,
    }
    if not result["verified"]:
        raise MigrationFailed(
            f"the target does not verify with the source's head: {orjson.dumps(result).decode()}")
    return result


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if not args.to.startswith(("postgresql://", "postgres://")):
        print("runstream: --to takes a postgresql://... URL", file=sys.stderr)
        return 2
    try:
        result = asyncio.run(migrate(settings, args.to))
    except (MigrationFailed, StoreUnavailable) as exc:
        print(f"runstream: migrate: {exc}", file=sys.stderr)
        return 1
    print(orjson.dumps(result).decode())
    return 0


def add_commands(sub: Any) -> None:
    migrate_p = sub.add_parser(
        "migrate", help="copy this data directory's log and tables into an empty PostgreSQL "
                        "database, then verify it there")
    migrate_p.add_argument("--to", required=True, metavar="URL",
                           help="the target, postgresql://user@host:port/database")
    add_data_options(migrate_p)
    migrate_p.set_defaults(func=cmd_migrate)
