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

from eventstore.sqlite import SQLiteEventStore, verify_file
from projections import all_projections
from projections.rebuild import rebuild
from service.auth import commands as auth_commands
from service.logging import configure_logging
from service.runtime import (
    fix_malloc_mmap_threshold,
    raise_open_files_limit,
    tune_gc_on_startup,
)
from service.settings import Settings, SettingsError, load_settings
from service.workflows import commands as workflow_commands


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="directory holding runstream.db")
    parser.add_argument("--config", type=Path, help="a TOML file over config/default.toml")


def settings_from(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {}
    for name in ("host", "port", "data_dir"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return load_settings(getattr(args, "config", None), overrides)


def cmd_serve(args: argparse.Namespace) -> int:
    from service.app import create_app

    settings = settings_from(args)
    writable_data_dir(settings)
    configure_logging()
    raise_open_files_limit()
    fix_malloc_mmap_threshold()
    app = create_app(settings)
    app.on_startup.append(tune_gc_on_startup)
    web.run_app(
        app, host=settings.host, port=settings.port,
        print=lambda line: print(line, file=sys.stderr), shutdown_timeout=10.0,
    )
    return 0


class MissingDatabase(Exception):
    """An offline command was pointed at a data directory that holds no database."""


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


def existing_database(settings: Settings) -> Path:
    """The database an offline command reads; never created by a typo in --data-dir."""
    path = settings.database_path
    if not path.is_file():
        raise MissingDatabase(f"no database at {path} (check --data-dir)")
    return path


def cmd_verify(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    existing_database(settings)
    result = verify_file(settings.database_path)
    report = {
        "ok": result.ok, "checked": result.checked, "head": result.head,
        "firstBadPosition": result.first_bad_position, "reason": result.reason,
    }
    print(orjson.dumps(report).decode())
    return 0 if result.ok else 1


def cmd_rebuild(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    existing_database(settings)
    report = rebuild(settings.database_path, all_projections(), replace=not args.check)
    print(orjson.dumps({
        "matches": report.matches, "events": report.events,
        "eventsPerSecond": round(report.events_per_second),
        "differences": {t: {"onlyLive": a, "onlyRebuilt": b}
                        for t, (a, b) in report.differences.items()},
    }).decode())
    return 0 if report.matches else 1


async def _export(settings: Settings, stream: str | None, out: object) -> int:
    store = await SQLiteEventStore.open(settings.database_path, all_projections(),
                                        synchronous=settings.synchronous)
    count = 0
    try:
        after = 0
        while True:
            page = await store.read(stream, after, 5000)
            if not page:
                break
            for event in page:
                sys.stdout.buffer.write(event.as_json() + b"\n")
            count += len(page)
            after = page[-1].position
    finally:
        await store.close()
    sys.stdout.buffer.flush()
    return count


def cmd_export(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    existing_database(settings)
    asyncio.run(_export(settings, args.stream, sys.stdout))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="runstream", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the HTTP API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    _add_data_options(serve)
    serve.set_defaults(func=cmd_serve)

    verify = sub.add_parser("verify", help="recompute the hash chain; exit 1 on a bad link")
    _add_data_options(verify)
    verify.set_defaults(func=cmd_verify)

    rebuild_p = sub.add_parser("rebuild", help="replay projections; exit 1 if live differed")
    rebuild_p.add_argument("--check", action="store_true", help="compare only, keep live tables")
    _add_data_options(rebuild_p)
    rebuild_p.set_defaults(func=cmd_rebuild)

    export = sub.add_parser("export", help="write the log as NDJSON to stdout")
    export.add_argument("--stream", help="only this stream (a run id)")
    _add_data_options(export)
    export.set_defaults(func=cmd_export)

    # Identity and workflow chores live beside their packages.
    for module in (auth_commands, workflow_commands):
        module.add_commands(sub, _add_data_options)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (SettingsError, MissingDatabase, DataDirNotWritable) as exc:
        print(f"runstream: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
