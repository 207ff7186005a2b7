"""Archives of pruned events: gzip NDJSON, one event a line exactly as `export` writes it,
and the check that each archived event is the one whose header the live log kept."""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from eventstore.hashchain import canonical_bytes, chain_hash
from eventstore.records import RecordedEvent

# The fields of a kept chain header, in the order a lookup gives them.
HEADER_FIELDS = ("stream", "version", "type", "recordedAt", "prevHash", "hash")
# position -> (stream, version, type, recorded_at, prev_hash, hash) as the live log holds it.
HeaderLookup = Callable[[Sequence[int]], dict[int, tuple[Any, ...]]]
CHECK_PAGE = 2000


def write_archive(path: Path, events: Iterable[RecordedEvent]) -> tuple[int, str]:
    """Write `events` to `path` and make it durable (the file, then its directory entry)
    before returning: only then may the events be removed. Returns (events, sha256 of the
    file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(path, "xb") as raw:
        # Level 1: pruning is bound by compression, and NDJSON of events compresses well
        # at any level.
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=1, mtime=0) as gz:
            for event in events:
                gz.write(event.as_json() + b"\n")
                count += 1
        raw.flush()
        os.fsync(raw.fileno())
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return count, digest


def stored_data(line: bytes, event: dict[str, Any]) -> bytes:
    """The exact data bytes of an archived line: `as_json` splices the stored bytes between
    a fixed head and tail, so they are cut out rather than re-encoded (a re-encoding could
    differ from what was hashed)."""
    head = orjson.dumps({"position": event["position"], "stream": event["stream"],
                         "version": event["version"], "type": event["type"]})[:-1] + b',"data":'
    tail = b"," + orjson.dumps({"recordedAt": event["recordedAt"],
                                "prevHash": event["prevHash"], "hash": event["hash"]})[1:]
    line = line.rstrip(b"\n")
    if line.startswith(head) and line.endswith(tail):
        return line[len(head):len(line) - len(tail)]
    return orjson.dumps(event["data"])


@dataclass(frozen=True, slots=True)
class ArchiveResult:
    file: str
    checked: int
    first_bad_position: int | None = None
    line: int | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "ok": self.ok, "checked": self.checked,
                "firstBadPosition": self.first_bad_position, "line": self.line,
                "reason": self.reason}


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with gzip.open(path, "rb") as gz:
        for number, line in enumerate(gz, start=1):
            if line.strip():
                yield number, line


def check_archive(path: Path, lookup: HeaderLookup) -> ArchiveResult:
    """Recompute each archived event's hash from its own fields and data, and check that the
    live log keeps exactly that header at its position; the first line that fails is named."""
    checked = 0
    try:
        page: list[tuple[int, bytes, dict[str, Any]]] = []
        for number, line in _lines(path):
            try:
                event = orjson.loads(line)
                int(event["position"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                return ArchiveResult(str(path), checked, None, number, "not an archived event")
            page.append((number, line, event))
            if len(page) >= CHECK_PAGE:
                failure = _check_page(path, page, lookup)
                if failure is not None:
                    return ArchiveResult(str(path), checked, *failure)
                checked += len(page)
                page = []
        failure = _check_page(path, page, lookup)
        if failure is not None:
            return ArchiveResult(str(path), checked, *failure)
        checked += len(page)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        return ArchiveResult(str(path), checked, None, None, f"cannot read the archive: {exc}")
    return ArchiveResult(str(path), checked)


def _check_page(path: Path, page: list[tuple[int, bytes, dict[str, Any]]],
                lookup: HeaderLookup) -> tuple[int | None, int, str] | None:
    if not page:
        return None
    live = lookup([event["position"] for _, _, event in page])
    for number, line, event in page:
        position = event["position"]
        try:
            digest = chain_hash(event["prevHash"], canonical_bytes(
                position, event["stream"], event["version"], event["type"],
                stored_data(line, event), event["recordedAt"]))
        except (KeyError, TypeError, AttributeError, UnicodeEncodeError):
            return position, number, "not an archived event"
        if digest != event["hash"]:
            return position, number, "hash does not match the archived event's content"
        kept = live.get(position)
        if kept is None:
            return position, number, "the live log has no event at this position"
        archived = tuple(event[name] for name in HEADER_FIELDS)
        if tuple(kept) != archived:
            return position, number, "the live log keeps another header at this position"
    return None
