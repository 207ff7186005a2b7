"""`runstream backup DEST` (while the server runs) and `runstream restore SRC` (server stopped).

Both print one JSON report on stdout and their progress on stderr (service/progress.py).
What a backup holds and what a restore leaves alone is in docs/operations.md ("Backup and
restore"); why a restore marks the log is in eventstore/lost_history.py.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from eventstore.interface import VerifyResult
from eventstore.lost_history import RestoreMark
from eventstore.postgres import verify_url
from eventstore.postgres_restore import mark_restored, serving_sessions
from eventstore.sqlite import verify_file
from eventstore.sqlite_backup import (
    copy_database,
    high_water,
    install,
    mark_restore,
    read_end,
    settle,
    stage_copy,
)
from service.backup import lock
from service.commands import add_data_options, existing_database, settings_from
from service.progress import progress
from service.settings import Settings

STAGED_SUFFIX = ".restoring"
REPLACED_SUFFIX = ".replaced-"
POSTGRES_TOOLS = ("on PostgreSQL back up with pg_dump or a base backup with WAL archiving, "
                  "restore with pg_restore or point-in-time recovery, then run "
                  "`runstream restore --mark --lost-through N` (docs/operations.md)")


class Refused(Exception):
    """The command will not do what it was asked, and says why (exit 2)."""


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def _unused_name(path: Path) -> Path:
    """`path`, or `path-2`, `path-3`... when a file of that name exists (two restores within
    one second stamp the same name, and the file kept by the first must stay)."""
    candidate, count = path, 1
    while candidate.exists():
        count += 1
        candidate = path.with_name(f"{path.name}-{count}")
    return candidate


def _print(report: dict[str, Any]) -> None:
    print(orjson.dumps(report).decode())


def _chain(result: VerifyResult) -> dict[str, Any]:
    return {"ok": result.ok, "checked": result.checked, "head": result.head,
            "firstBadPosition": result.first_bad_position, "reason": result.reason}


def _verified(path: Path) -> VerifyResult:
    with progress("verify") as shown:
        result = verify_file(path, shown.update)
        shown.ok = result.ok
    return result


# -- backup -------------------------------------------------------------------------


def cmd_backup(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if settings.database_url:
        raise Refused(POSTGRES_TOOLS)
    source = existing_database(settings)
    dest: Path = args.dest
    if dest.is_dir():
        dest = _unused_name(dest / f"runstream-{_stamp()}.db")
    if dest.exists():
        raise Refused(f"{dest} exists; a backup never overwrites a file")
    if not dest.parent.is_dir():
        raise Refused(f"no directory {dest.parent} to write the backup in")
    started = time.perf_counter()
    with progress("backup", unit="pages") as shown:
        copy_database(source, dest, shown.update)
    seconds = time.perf_counter() - started
    size = dest.stat().st_size
    result = _verified(dest)
    end = read_end(dest)
    _print({
        **_chain(result), "file": str(dest), "bytes": size, "seconds": round(seconds, 3),
        "megabytesPerSecond": round(size / 1e6 / seconds, 1) if seconds > 0 else None,
        "head": end.position, "hash": end.hash,
    })
    return 0 if result.ok else 1


# -- restore ------------------------------------------------------------------------


def _mark_report(mark: RestoreMark, **extra: Any) -> dict[str, Any]:
    return {
        "ok": True, "head": mark.restored.position, "hash": mark.restored.hash,
        "lostFrom": mark.lost_from, "lostThrough": mark.lost_through,
        "markerPosition": mark.marker_position, **extra,
    }


def _refuse_unverified(result: VerifyResult, what: str) -> int:
    _print({**_chain(result), "refused": f"{what} does not verify; nothing was changed"})
    return 1


def restore_sqlite(settings: Settings, source: Path, lost_through: int | None) -> int:
    data_dir = settings.data_dir
    target = settings.database_path
    if not source.is_file():
        raise Refused(f"no backup at {source}")
    with lock.exclusive(data_dir):
        replaced = high_water(target) if target.exists() else None
        if replaced is None and lost_through is None:
            where = "cannot be read" if target.exists() else "does not exist"
            raise Refused(
                f"{target} {where}, so how far clients read it is unknown: give "
                "--lost-through N, the highest log position a client may have seen (the "
                "head in /healthz or in a saved checkpoint; 0 if no client read this log)")
        staged = target.with_name(target.name + STAGED_SUFFIX)
        try:
            try:
                stage_copy(source, staged)
                result = _verified(staged)
            except sqlite3.DatabaseError as exc:
                raise Refused(f"{source} is not a runstream database: {exc}") from None
            if not result.ok:
                return _refuse_unverified(result, f"the backup {source}")
            reached = max(replaced.position if replaced else 0, lost_through or 0)
            mark = mark_restore(staged, reached, source=str(source),
                                replaced_hash=replaced.hash if replaced else None)
            kept = target.with_name(f"{target.name}{REPLACED_SUFFIX}{_stamp()}")
            keep_as = _unused_name(kept) if target.exists() else None
            install(staged, target, keep_as)
        finally:
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(f"{staged}{suffix}").unlink(missing_ok=True)
    _print(_mark_report(mark, restored=str(source), file=str(target),
                        replaced=str(keep_as) if keep_as else None))
    return 0


def mark_sqlite(settings: Settings, lost_through: int) -> int:
    """Mark a database someone put in place by hand (copied back while stopped)."""
    target = existing_database(settings)
    with lock.exclusive(settings.data_dir):
        settle(target)
        result = _verified(target)
        if not result.ok:
            return _refuse_unverified(result, f"the database {target}")
        mark = mark_restore(target, lost_through, source="marked in place", replaced_hash=None)
    _print(_mark_report(mark, file=str(target)))
    return 0


def mark_postgres(url: str, lost_through: int) -> int:
    open_sessions = asyncio.run(serving_sessions(url))
    if open_sessions:
        raise Refused(f"{open_sessions} connection(s) of runstream servers are open on this "
                      "database; stop every node before marking a restore")
    with progress("verify") as shown:
        result = asyncio.run(verify_url(url, shown.update))
        shown.ok = result.ok
    if not result.ok:
        return _refuse_unverified(result, "the restored database")
    mark = asyncio.run(mark_restored(url, lost_through, source="postgresql restore"))
    _print(_mark_report(mark))
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.mark:
        if args.source is not None:
            raise Refused("--mark marks the database in place; give no SRC with it")
        if args.lost_through is None:
            raise Refused("--mark needs --lost-through N, the highest log position a "
                          "client may have seen of the database that was replaced")
        if settings.database_url:
            return mark_postgres(settings.database_url, args.lost_through)
        return mark_sqlite(settings, args.lost_through)
    if settings.database_url:
        raise Refused(POSTGRES_TOOLS)
    if args.source is None:
        raise Refused("give the backup to restore (SRC), or --mark")
    return restore_sqlite(settings, args.source, args.lost_through)


def _guarded(command: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(command(args))
        except (Refused, lock.DataDirInUse, LookupError) as exc:
            print(f"runstream: {exc}", file=sys.stderr)
            return 2

    return run


def _position(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("a log position is 0 or more")
    return value


def add_commands(sub: Any) -> None:
    backup = sub.add_parser(
        "backup", help="a consistent copy of the database while the server runs, verified")
    backup.add_argument("dest", type=Path,
                        help="the file to write (or a directory: runstream-<time>.db in it)")
    add_data_options(backup)
    backup.set_defaults(func=_guarded(cmd_backup))

    restore = sub.add_parser(
        "restore", help="put a verified backup in place of the database (server stopped)")
    restore.add_argument("source", type=Path, nargs="?", help="the backup file")
    restore.add_argument(
        "--lost-through", type=_position, metavar="N",
        help="the highest log position clients may have seen, when the replaced database "
             "cannot say (it is gone, or on PostgreSQL)")
    restore.add_argument(
        "--mark", action="store_true",
        help="mark a database restored by other means (pg_restore, PITR, a file copied "
             "back by hand) instead of copying SRC")
    add_data_options(restore)
    restore.set_defaults(func=_guarded(cmd_restore))
