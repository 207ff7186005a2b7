"""`runstream prune [--dry-run]`, `runstream erase RUN`, `runstream vacuum`."""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
from typing import Any

import orjson

from eventstore.interface import EventStore
from eventstore.prune import PruneUnsupported
from service.commands import add_data_options, existing_database, run_on_store, settings_from
from service.progress import progress
from service.retention.pruner import Pruner, RunNotFinished


def _refuse(message: str) -> int:
    print(f"runstream: {message}", file=sys.stderr)
    return 2


def cmd_prune(args: argparse.Namespace) -> int:
    settings = settings_from(args)

    async def prune(store: EventStore) -> dict[str, Any]:
        pruner = Pruner(store, settings)
        await pruner.ensure_schema()
        if args.dry_run:
            batches = await pruner.plan()
            return {"dryRun": True, "runs": sum(len(b.runs) for b in batches),
                    "batches": [{"workspaceId": b.workspace_id, "source": b.source,
                                 "policy": b.policy.as_dict(), "runs": b.runs}
                                for b in batches]}
        # The planned events are the total, so a terminal sees the share and time left.
        with progress("prune") as shown:
            report = await pruner.prune(on_batch=shown.add,
                                        on_plan=lambda total: shown.update(0, total))
        return report.as_dict()

    try:
        result = run_on_store(args, prune, existing=True)
    except PruneUnsupported as exc:
        return _refuse(str(exc))
    print(orjson.dumps(result).decode())
    return 0


def cmd_erase(args: argparse.Namespace) -> int:
    settings = settings_from(args)

    async def erase(store: EventStore) -> dict[str, Any] | None:
        outcome = await Pruner(store, settings).erase(args.run, args.by, args.reason)
        if outcome is None:
            return None
        return {"runs": outcome.streams, "events": outcome.events,
                "position": outcome.record.position if outcome.record else None}

    try:
        result = run_on_store(args, erase, existing=True)
    except (PruneUnsupported, RunNotFinished) as exc:
        return _refuse(str(exc) if isinstance(exc, PruneUnsupported)
                       else f"run {args.run} (or its family or parent) is not finished")
    if result is None:
        return _refuse(f"no run {args.run}")
    print(orjson.dumps(result).decode())
    return 0


def cmd_vacuum(args: argparse.Namespace) -> int:
    """Rewrite the database with auto_vacuum = INCREMENTAL (the server stopped): VACUUM
    copies it whole, so it needs free space of about the database's size."""
    settings = settings_from(args)
    if settings.database_url:
        return _refuse("vacuum is for the SQLite database; on PostgreSQL use VACUUM there")
    path = existing_database(settings)
    size = path.stat().st_size
    free = shutil.disk_usage(path.parent).free
    print(f"runstream vacuum: rewriting {path} ({size} bytes) needs about {size} bytes free "
          f"beside it; {free} are.", file=sys.stderr)
    if free < size:
        return _refuse("not enough free space to vacuum")
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (mode,) = conn.execute("PRAGMA auto_vacuum").fetchone()
    finally:
        conn.close()
    print(orjson.dumps({"ok": mode == 2, "before": size,
                        "after": path.stat().st_size, "autoVacuum": "incremental"}).decode())
    return 0 if mode == 2 else 1


def add_commands(sub: Any) -> None:
    prune = sub.add_parser("prune", help="apply retention now: archive, then prune finished "
                                         "runs' event data (chain headers stay)")
    prune.add_argument("--dry-run", action="store_true", help="only say which runs would go")
    add_data_options(prune)
    prune.set_defaults(func=cmd_prune)

    erase = sub.add_parser("erase", help="remove one finished run's data now, no archive")
    erase.add_argument("run", help="the run id")
    erase.add_argument("--reason", required=True, help="why (recorded in the log)")
    erase.add_argument("--by", default="cli", help="who (recorded in the log)")
    add_data_options(erase)
    erase.set_defaults(func=cmd_erase)

    vacuum = sub.add_parser("vacuum", help="convert the database to auto_vacuum = "
                                           "INCREMENTAL (needs its size free; server stopped)")
    add_data_options(vacuum)
    vacuum.set_defaults(func=cmd_vacuum)
