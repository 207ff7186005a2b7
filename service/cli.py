"""The `runstream` command: serve, and the offline tools that act on a data directory."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import orjson
from aiohttp import web

from eventstore.errors import NoLogHere, StoreUnavailable
from eventstore.interface import EventStore, VerifyResult
from eventstore.postgres import verify_url
from eventstore.sqlite import verify_file
from projections import all_projections
from projections.rebuild import RebuildReport, rebuild
from projections.rebuild_postgres import rebuild_postgres
from service import cluster_keys_commands, node_commands
from service import migrate as migrate_commands
from service.audit import commands as audit_commands
from service.auth import commands as auth_commands
from service.backup import commands as backup_commands
from service.backup.lock import DataDirInUse
from service.backup.lock import serving as serving_lock
from service.commands import (
    MissingDatabase,
    add_data_options,
    existing_database,
    run_on_store,
    settings_from,
)
from service.logging import configure_logging
from service.progress import progress
from service.retention import commands as retention_commands
from service.retention.archives import check_archives
from service.retention.gone import pruned_run
from service.runtime import (
    fix_malloc_mmap_threshold,
    raise_open_files_limit,
    tune_gc_on_startup,
)
from service.secrets import commands as secret_commands
from service.settings import Settings, SettingsError
from service.triggers import commands as schedule_commands
from service.triggers import webhook_commands
from service.workflows import commands as workflow_commands

EXPORT_PAGE = 5000  # events read per query: the export's memory stays flat on any log


def cmd_serve(args: argparse.Namespace) -> int:
    from service.app import create_app

    settings = settings_from(args)
    writable_data_dir(settings)
    configure_logging()
    raise_open_files_limit()
    fix_malloc_mmap_threshold()
    # Held for the server's life: `runstream restore` refuses while any server holds it.
    with serving_lock(settings.data_dir):
        app = create_app(settings)
        app.on_startup.append(tune_gc_on_startup)
        web.run_app(
            app, host=settings.host, port=settings.port,
            print=lambda line: print(line, file=sys.stderr), shutdown_timeout=10.0,
        )
    return 0


class DataDirNotWritable(Exception):
    """`serve` was pointed at a data directory it cannot write (read-only filesystem, ...)."""


def writable_data_dir(settings: Settings) -> None:
    """`serve` writes its database, WAL and key files there: say so plainly if it cannot."""
    path = settings.data_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
        read_only = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError as exc:
        raise DataDirNotWritable(f"cannot use the data directory {path}: {exc}") from None
    if read_only:
        raise DataDirNotWritable(
            f"the data directory {path} is on a read-only filesystem; "
            "runstream serve needs to write its database there")
    if not os.access(path, os.W_OK | os.X_OK):
        raise DataDirNotWritable(f"the data directory {path} is not writable by this user")


def cmd_verify(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    result: VerifyResult
    if not settings.database_url:
        existing_database(settings)  # before the progress: a typo is an error, not a summary
    with progress("verify") as shown:
        if settings.database_url:
            result = asyncio.run(verify_url(settings.database_url, shown.update))
        else:
            result = verify_file(existing_database(settings), shown.update)
        shown.ok = result.ok
    report: dict[str, object] = {
        "ok": result.ok, "checked": result.checked, "head": result.head,
        "headHash": result.head_hash,
        "firstBadPosition": result.first_bad_position, "reason": result.reason,
    }
    archives_ok = True
    if args.archive:
        if settings.database_url:
            print("runstream: verify --archive reads the SQLite database", file=sys.stderr)
            return 2
        checked = check_archives(existing_database(settings), args.archive)
        archives_ok = all(archive.ok for archive in checked)
        report["archives"] = [archive.as_dict() for archive in checked]
        report["ok"] = result.ok and archives_ok
    print(orjson.dumps(report).decode())
    return 0 if result.ok and archives_ok else 1


def cmd_rebuild(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    report: RebuildReport
    if not settings.database_url:
        existing_database(settings)
    with progress("rebuild") as shown:
        if settings.database_url:
            report = asyncio.run(rebuild_postgres(
                settings.database_url, all_projections(), replace=not args.check,
                on_progress=shown.update))
        else:
            report = rebuild(existing_database(settings), all_projections(),
                             replace=not args.check, on_progress=shown.update)
        shown.ok = report.matches
    print(orjson.dumps({
        "matches": report.matches, "events": report.events,
        "eventsPerSecond": round(report.events_per_second),
        "differences": {t: {"onlyLive": a, "onlyRebuilt": b}
                        for t, (a, b) in report.differences.items()},
    }).decode())
    return 0 if report.matches else 1


def cmd_export(args: argparse.Namespace) -> int:
    async def export(store: EventStore) -> int:
        if args.stream is not None and (gone := await pruned_run(store, args.stream)):
            where = (f"its events are in the archive {gone['archive']}" if gone["archive"]
                     else "it was erased, without an archive")
            print(f"runstream: run {args.stream} was pruned at {gone['prunedAt']} "
                  f"({gone['kind']}); {where}", file=sys.stderr)
            print(orjson.dumps({"pruned": gone}).decode(), file=sys.stderr)
            return 3
        total = await (store.head() if args.stream is None
                       else store.stream_version(args.stream))
        after = 0
        # The progress goes to stderr: stdout is the NDJSON, nothing else.
        with progress("export", total) as shown:
            while page := await store.read(args.stream, after, EXPORT_PAGE):
                for event in page:
                    sys.stdout.buffer.write(event.as_json() + b"\n")
                after = page[-1].position
                # Whole log: positions reached (a restore's hole counts as passed); one
                # stream: its events so far.
                shown.update(after if args.stream is None else shown.done + len(page))
            sys.stdout.buffer.flush()
        return 0

    return run_on_store(args, export, existing=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="runstream", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the HTTP API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    add_data_options(serve)
    serve.set_defaults(func=cmd_serve)

    verify = sub.add_parser("verify", help="recompute the hash chain; exit 1 on a bad link")
    verify.add_argument("--archive", nargs="+", type=Path, metavar="FILE",
                        help="also check these prune archives against the kept headers")
    add_data_options(verify)
    verify.set_defaults(func=cmd_verify)

    rebuild_p = sub.add_parser("rebuild", help="replay projections; exit 1 if live differed")
    rebuild_p.add_argument("--check", action="store_true", help="compare only, keep live tables")
    add_data_options(rebuild_p)
    rebuild_p.set_defaults(func=cmd_rebuild)

    export = sub.add_parser("export", help="write the log as NDJSON to stdout")
    export.add_argument("--stream", help="only this stream (a run id)")
    add_data_options(export)
    export.set_defaults(func=cmd_export)

    # Identity, workflow, secret, audit and backup chores live beside their packages.
    for module in (auth_commands, workflow_commands, secret_commands, audit_commands,
                   schedule_commands, backup_commands, migrate_commands,
                   cluster_keys_commands, webhook_commands, retention_commands,
                   node_commands):
        module.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (SettingsError, MissingDatabase, DataDirNotWritable, DataDirInUse, NoLogHere,
            StoreUnavailable) as exc:
        print(f"runstream: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
