"""Tamper evidence: a row edited or deleted behind the store's back is found at its position."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from eventstore.hashchain import canonical_bytes, chain_hash
from eventstore.sqlite import SQLiteEventStore, verify_file
from projections import all_projections
from tests.support.backends import Backend
from tests.support.eventstore import tick

RUNSTREAM = Path(sys.executable).parent / "runstream"
EVENTS = 20
TAMPERED = 7


@pytest.fixture
async def data_dir(tmp_path: Path) -> Path:
    store = await SQLiteEventStore.open(tmp_path / "runstream.db", projectors=all_projections())
    for i in range(EVENTS // 2):
        await store.append(f"run-{i % 3}", [tick(i), tick(i, second=True)])
    await store.close()
    return tmp_path


@pytest.fixture
async def log(backend: Backend) -> Backend:
    """The same log as `data_dir`, on each backend."""
    store = await backend.open()
    for i in range(EVENTS // 2):
        await store.append(f"run-{i % 3}", [tick(i), tick(i, second=True)])
    await store.close()
    return backend


def tamper_with(log: Backend, sql: str, *params: object) -> None:
    assert log.execute(sql, *params) == 1


def tamper(data_dir: Path, sql: str, *params: object) -> None:
    conn = sqlite3.connect(data_dir / "runstream.db")
    try:
        with conn:
            assert conn.execute(sql, params).rowcount == 1
    finally:
        conn.close()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNSTREAM_")}
    return subprocess.run(
        [str(RUNSTREAM), *args], capture_output=True, text=True, env=env, timeout=60, check=False)


EDITS = {
    "data": ("UPDATE events SET data = ? WHERE position = ?", b'{"n":999}'),
    "type": ("UPDATE events SET type = ? WHERE position = ?", "RunCompleted"),
    "hash": ("UPDATE events SET hash = ? WHERE position = ?", "f" * 64),
    "prev_hash": ("UPDATE events SET prev_hash = ? WHERE position = ?", "e" * 64),
    "stream": ("UPDATE events SET stream = ? WHERE position = ?", "run-other"),
    "version": ("UPDATE events SET version = ? WHERE position = ?", 99),
    "recorded_at": ("UPDATE events SET recorded_at = ? WHERE position = ?",
                    "2000-01-01T00:00:00.000Z"),
}


async def test_an_untouched_log_verifies(data_dir: Path) -> None:
    result = verify_file(data_dir / "runstream.db")
    assert (result.ok, result.checked, result.first_bad_position) == (True, EVENTS, None)
    cli = run_cli("verify", "--data-dir", str(data_dir))
    assert cli.returncode == 0, cli.stderr
    report = orjson.loads(cli.stdout)
    assert report["ok"] is True
    assert report["checked"] == EVENTS
    assert report["firstBadPosition"] is None


@pytest.mark.parametrize("column", list(EDITS))
async def test_an_edited_column_is_named_at_its_position(log: Backend, column: str) -> None:
    assert (await log.verify()).ok
    sql, value = EDITS[column]
    tamper_with(log, sql, value, TAMPERED)
    result = await log.verify()
    assert not result.ok
    assert result.first_bad_position == TAMPERED
    assert result.checked == TAMPERED - 1
    assert result.reason


async def test_a_deleted_middle_row_is_named_at_its_position(log: Backend) -> None:
    tamper_with(log, "DELETE FROM events WHERE position = ?", TAMPERED)
    result = await log.verify()
    assert result.first_bad_position == TAMPERED
    assert "missing" in (result.reason or "")


async def test_a_deleted_last_row_is_named(log: Backend) -> None:
    # The chain alone cannot show a cut-off tail, but the projections were checkpointed
    # in the same transactions as the events, so a log ending before them was cut.
    tamper_with(log, "DELETE FROM events WHERE position = ?", EVENTS)
    result = await log.verify()
    assert not result.ok
    assert result.first_bad_position == EVENTS


async def test_a_deleted_first_row_is_named(log: Backend) -> None:
    tamper_with(log, "DELETE FROM events WHERE position = ?", 1)
    assert (await log.verify()).first_bad_position == 1


async def test_a_row_rewritten_with_a_recomputed_hash_breaks_the_next_link(
    log: Backend,
) -> None:
    # A forger who recomputes the edited row's own hash still cannot fix its successor.
    (row,) = log.query(
        "SELECT stream, version, type, recorded_at, prev_hash FROM events WHERE position = ?",
        TAMPERED)
    forged = b'{"n":999}'
    digest = chain_hash(row["prev_hash"], canonical_bytes(
        TAMPERED, row["stream"], row["version"], row["type"], forged, row["recorded_at"]))
    tamper_with(log, "UPDATE events SET data = ?, hash = ? WHERE position = ?",
                forged, digest, TAMPERED)
    assert (await log.verify()).first_bad_position == TAMPERED + 1


async def test_the_store_api_reports_tampering(log: Backend) -> None:
    tamper_with(log, "UPDATE events SET data = ? WHERE position = ?", b'{"n":1}', TAMPERED)
    store = await log.open()
    try:
        result = await store.verify()
    finally:
        await store.close()
    assert result.first_bad_position == TAMPERED


@pytest.mark.parametrize("how", ["data", "type", "hash", "delete"])
def test_verify_command_exits_1_and_names_the_position(data_dir: Path, how: str) -> None:
    if how == "delete":
        tamper(data_dir, "DELETE FROM events WHERE position = ?", TAMPERED)
    else:
        tamper(data_dir, *EDITS[how][:1], EDITS[how][1], TAMPERED)
    cli = run_cli("verify", "--data-dir", str(data_dir))
    assert cli.returncode == 1, (cli.stdout, cli.stderr)
    report = orjson.loads(cli.stdout)
    assert report["ok"] is False
    assert report["firstBadPosition"] == TAMPERED
    assert report["reason"]


def test_hashes_are_sha256_hex(data_dir: Path) -> None:
    conn = sqlite3.connect(data_dir / "runstream.db")
    try:
        prev_hash, data, header = conn.execute(
            "SELECT prev_hash, data, json_array(position, stream, version, type, recorded_at)"
            " FROM events WHERE position = 1").fetchone()
        (stored,) = conn.execute("SELECT hash FROM events WHERE position = 1").fetchone()
    finally:
        conn.close()
    # The layout DESIGN section 2 names: sha256(prev_hash || canonical bytes of the event).
    canonical = orjson.dumps(orjson.loads(header)) + b"\n" + bytes(data)
    assert stored == hashlib.sha256(prev_hash.encode() + canonical).hexdigest()


@pytest.mark.parametrize("exists", [False, True])
def test_verify_of_a_data_dir_without_a_database_is_not_a_broken_chain(
    tmp_path: Path, exists: bool
) -> None:
    # Exit 1 means "the chain is broken"; a wrong path must not look like tampering,
    # and a read-only check must not leave an empty database behind.
    data_dir = tmp_path / "data"
    if exists:
        data_dir.mkdir()
    cli = run_cli("verify", "--data-dir", str(data_dir))
    assert cli.returncode not in (0, 1), cli
    assert "Traceback" not in cli.stderr
    assert str(data_dir / "runstream.db") in cli.stderr
    assert not (data_dir / "runstream.db").exists()

