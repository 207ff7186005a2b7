"""`verify --archive`: each archive file checked against the live log's kept headers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from eventstore.archive import ArchiveResult, check_archive
from eventstore.sqlite import header_lookup
from eventstore.sqlite_writer import open_connection


def check_archives(database: Path, files: Sequence[Path]) -> list[ArchiveResult]:
    conn = open_connection(database, "FULL", writer=False)
    try:
        lookup = header_lookup(conn)
        return [check_archive(path, lookup) for path in files]
    finally:
        conn.close()
