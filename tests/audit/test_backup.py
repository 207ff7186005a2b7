"""`runstream backup` copies the database while the server appends, and verifies the copy;
`runstream restore` puts a verified backup back (server stopped), keeps the replaced file,
and refuses a running server, a tampered backup and a file that is not a database."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import sqlite3
import subprocess
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

from eventstore.lost_history import LOG_RESTORED, LOG_STREAM
from eventstore.sqlite import SQLiteEventStore, verify_file
from eventstore.sqlite_backup import settle
from projections import all_projections
from service.backup import lock
from tests.support.eventstore import read_all, tick
from tests.support.server_process import (
    Api,
    ServerProcess,
    admin_token,
    clean_environ,
    create_workflow,
    runstream_command,
)

QUICK = {"name": "backup load", "nodes": [
    {"id": "a", "type": "transform", "params": {"value": {"n": "{{inputs.n}}"}}},
    {"id": "b", "type": "noop", "after": ["a"]},
]}


def runstream(*args: str, timeout_s: float = 120) -> tuple[int, Any, str]:
    """Exit code, the JSON report on stdout (None when empty) and stderr of `runstream`."""
    done = subprocess.run([*runstream_command(), *args], capture_output=True,
                          env=clean_environ(), timeout=timeout_s, check=False)
    out = done.stdout.decode()
    return done.returncode, orjson.loads(out) if out.strip() else None, done.stderr.decode()


async def arunstream(*args: str) -> tuple[int, Any, str]:
    return await asyncio.to_thread(runstream, *args)


def files(directory: Path, pattern: str) -> list[str]:
    return sorted(path.name for path in directory.glob(pattern))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def fill(path: Path, events: int, stream: str = "run-a") -> None:
    store = await SQLiteEventStore.open(path, projectors=all_projections())
    try:
        for start in range(0, events, 100):
            await store.append(stream, [tick(n) for n in range(start, min(events, start + 100))])
    finally:
        await store.close()


@pytest.fixture
async def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    await fill(path / "runstream.db", 300)
    return path


@pytest.fixture
async def backup(data_dir: Path, tmp_path: Path) -> Path:
    """A backup of the 300 events, then 200 more appended to the live log (lost by a restore)."""
    code, report, err = await arunstream("backup", str(tmp_path / "backup.db"),
                                         "--data-dir", str(data_dir))
    assert code == 0, err
    assert report["head"] == 300
    await fill(data_dir / "runstream.db", 200, stream="run-b")
    return tmp_path / "backup.db"


# -- backup while the server runs ---------------------------------------------------

@pytest.mark.slow
async def test_a_backup_taken_under_a_write_load_verifies_and_restores(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    await server.start()
    api: Api | None = Api(server.base, await admin_token(server.base))
    assert api is not None
    stop = asyncio.Event()
    warmed_up = asyncio.Event()
    completed: list[str] = []

    async def load() -> None:
        assert api is not None
        workflow_id = await create_workflow(api, QUICK)
        while not stop.is_set():
            status, body = await api.request("POST", "/api/v1/workflow-runs/execute",
                                             json={"workflowId": workflow_id,
                                                   "inputs": {"n": len(completed)}})
            assert status == 200, body
            completed.append(body["data"]["id"])
            if len(completed) >= 40:
                warmed_up.set()

    async def head() -> int:
        assert api is not None
        return int((await api.request("GET", "/healthz"))[1]["head"])

    writers = [asyncio.create_task(load()) for _ in range(4)]
    try:
        await asyncio.wait_for(warmed_up.wait(), 60)
        before = await head()
        code, report, err = await arunstream("backup", str(tmp_path / "backup.db"),
                                             "--data-dir", str(server.data_dir))
        after = await head()
        assert code == 0, err
        # The copy is one moment of a log that kept growing around it.
        assert before <= report["head"] <= after
        assert before < after
        assert report["ok"] is True
        assert report["checked"] == report["head"]
        # A running server is never restored over.
        code, _, err = await arunstream("restore", str(tmp_path / "backup.db"),
                                        "--data-dir", str(server.data_dir))
        assert code == 2
        assert "a runstream server is running" in err
    finally:
        stop.set()
        await asyncio.gather(*writers)
        await api.close()
        api = None
        # Killed, not stopped: its WAL is left behind, and the restore must fold it into
        # the file it keeps aside rather than lose it or replay it into the backup.
        await server.kill()

    copy = sqlite3.connect(tmp_path / "backup.db")
    (hash_at_head,) = copy.execute("SELECT hash FROM events WHERE position = ?",
                                   (report["head"],)).fetchone()
    (runs_in_backup,) = copy.execute(
        "SELECT COUNT(*) FROM events WHERE type = 'RunCreated'").fetchone()
    copy.close()
    assert report["hash"] == hash_at_head
    assert verify_file(tmp_path / "backup.db").ok

    replaced_head = verify_file(server.data_dir / "runstream.db").head
    code, restored, err = await arunstream("restore", str(tmp_path / "backup.db"),
                                           "--data-dir", str(server.data_dir))
    assert code == 0, err
    assert restored["head"] == report["head"]
    assert restored["lostThrough"] == replaced_head
    assert verify_file(Path(restored["replaced"])).head == replaced_head

    await server.start()
    api = Api(server.base, await admin_token(server.base))
    try:
        status, body = await api.request("GET", "/api/v1/workflow-runs?limit=1")
        assert status == 200
        assert body["pagination"]["total"] == runs_in_backup
        # Right after the kept part: the restore's marker, past the replaced log's head.
        status, body = await api.request(
            "GET", f"/api/v1/events?after={report['head']}&limit=1")
        assert [(e["position"], e["type"]) for e in body["data"]] == [
            (replaced_head + 1, LOG_RESTORED)]
        # The restored server goes on appending, after the marker.
        workflow_id = await create_workflow(api, QUICK)
        status, body = await api.request("POST", "/api/v1/workflow-runs/execute",
                                         json={"workflowId": workflow_id, "inputs": {"n": 1}})
        assert status == 200
        assert body["data"]["status"] == "completed"
        assert await head() > replaced_head + 1
    finally:
        await api.close()
        await server.stop()
    code, chain, _ = await arunstream("verify", "--data-dir", str(server.data_dir))
    assert code == 0
    assert chain["ok"] is True


# -- backup -------------------------------------------------------------------------

async def test_a_backup_prints_its_head_and_hash_and_never_overwrites(
    data_dir: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "copy.db"
    code, report, err = await arunstream("backup", str(dest), "--data-dir", str(data_dir))
    assert code == 0, err
    (position, hash_) = sqlite3.connect(dest).execute(
        "SELECT position, hash FROM events ORDER BY position DESC LIMIT 1").fetchone()
    assert (report["head"], report["hash"]) == (position, hash_) == (300, hash_)
    assert report["bytes"] == dest.stat().st_size
    assert not files(tmp_path, "*.partial")
    # Progress: one summary line per phase on stderr, the copy's then its verify's.
    phases = [orjson.loads(line)["progress"] for line in err.splitlines()]
    assert phases == ["backup", "verify"]

    before = digest(dest)
    code, _, err = await arunstream("backup", str(dest), "--data-dir", str(data_dir))
    assert code == 2
    assert "exists" in err
    assert digest(dest) == before


async def test_a_backup_into_a_directory_names_the_file_by_time(
    data_dir: Path, tmp_path: Path
) -> None:
    target = tmp_path / "backups"
    target.mkdir()
    code, report, _ = await arunstream("backup", str(target), "--data-dir", str(data_dir))
    assert code == 0
    (written,) = target.iterdir()
    assert written.name.startswith("runstream-")
    assert report["file"] == str(written)


# -- restore ------------------------------------------------------------------------

async def test_a_restore_puts_the_backup_back_and_marks_the_lost_positions(
    data_dir: Path, backup: Path
) -> None:
    live = data_dir / "runstream.db"
    replaced = verify_file(live)
    code, report, err = await arunstream("restore", str(backup), "--data-dir", str(data_dir))
    assert code == 0, err
    assert (report["head"], report["lostFrom"], report["lostThrough"],
            report["markerPosition"]) == (300, 301, 500, 501)
    # The replaced database is kept beside it, whole.
    kept = Path(report["replaced"])
    assert kept.parent == data_dir
    assert verify_file(kept) == replaced
    assert not files(data_dir, "*.restoring*")

    store = await SQLiteEventStore.open(live, projectors=all_projections())
    try:
        events = await read_all(store)
        assert [e.position for e in events] == [*range(1, 301), 501]
        marker = events[-1]
        assert (marker.stream, marker.type) == (LOG_STREAM, LOG_RESTORED)
        assert marker.prev_hash == events[-2].hash
        assert marker.payload["source"] == str(backup)
        appended = await store.append("run-c", [tick(1)])
        assert appended[0].position == 502
    finally:
        await store.close()
    result = verify_file(live)
    assert (result.ok, result.checked, result.head) == (True, 302, 502)


async def test_restore_refuses_a_tampered_backup_and_changes_nothing(
    data_dir: Path, backup: Path
) -> None:
    conn = sqlite3.connect(backup)
    conn.execute("UPDATE events SET data = ? WHERE position = 120", (b'{"n":-1}',))
    conn.commit()
    conn.close()
    before = digest(data_dir / "runstream.db")
    code, report, _ = await arunstream("restore", str(backup), "--data-dir", str(data_dir))
    assert code == 1
    assert report["ok"] is False
    assert report["firstBadPosition"] == 120
    assert "nothing was changed" in report["refused"]
    assert digest(data_dir / "runstream.db") == before
    assert files(data_dir, "runstream.db*") == ["runstream.db"]


async def test_restore_refuses_a_backup_cut_short(data_dir: Path, backup: Path) -> None:
    """The newest events removed by hand: the projection checkpoints still say 300."""
    conn = sqlite3.connect(backup)
    conn.execute("DELETE FROM events WHERE position > 290")
    conn.commit()
    conn.close()
    code, report, _ = await arunstream("restore", str(backup), "--data-dir", str(data_dir))
    assert code == 1
    assert report["firstBadPosition"] == 291


async def test_restore_refuses_a_file_that_is_not_a_database(
    data_dir: Path, tmp_path: Path
) -> None:
    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(b"not a database at all" * 100)
    code, _, err = await arunstream("restore", str(bogus), "--data-dir", str(data_dir))
    assert code == 2
    assert "not a runstream database" in err
    code, _, err = await arunstream("restore", str(tmp_path / "missing.db"),
                                    "--data-dir", str(data_dir))
    assert code == 2
    assert "no backup at" in err


async def test_restore_refuses_while_a_server_holds_the_data_directory(
    data_dir: Path, backup: Path
) -> None:
    before = digest(data_dir / "runstream.db")
    with lock.serving(data_dir):  # what `runstream serve` holds for its whole life
        code, _, err = await arunstream("restore", str(backup), "--data-dir", str(data_dir))
    assert code == 2
    assert "stop it before restoring" in err
    assert digest(data_dir / "runstream.db") == before


@pytest.mark.slow
async def test_serve_refuses_to_start_during_a_restore(data_dir: Path) -> None:
    with lock.exclusive(data_dir):
        done = await asyncio.to_thread(
            subprocess.run, [*runstream_command(), "serve", "--port", "0",
                             "--data-dir", str(data_dir)],
            capture_output=True, env=clean_environ(), timeout=60, check=False)
    assert done.returncode == 2
    assert b"a restore is in progress" in done.stderr


async def test_restore_into_an_empty_data_directory_needs_to_know_what_clients_saw(
    backup: Path, tmp_path: Path
) -> None:
    fresh = tmp_path / "fresh"
    code, _, err = await arunstream("restore", str(backup), "--data-dir", str(fresh))
    assert code == 2
    assert "--lost-through" in err
    assert not (fresh / "runstream.db").exists()
    code, report, err = await arunstream("restore", str(backup), "--lost-through", "450",
                                         "--data-dir", str(fresh))
    assert code == 0, err
    assert (report["lostFrom"], report["lostThrough"], report["replaced"]) == (301, 450, None)
    assert verify_file(fresh / "runstream.db").head == 451


async def test_mark_in_place_for_a_database_copied_back_by_hand(
    data_dir: Path, backup: Path
) -> None:
    shutil.copy(backup, data_dir / "runstream.db")
    code, report, err = await arunstream("restore", "--mark", "--lost-through", "500",
                                         "--data-dir", str(data_dir))
    assert code == 0, err
    assert (report["head"], report["markerPosition"]) == (300, 501)
    assert verify_file(data_dir / "runstream.db").ok


async def test_verify_finds_a_restore_mark_that_lies_about_its_hole(
    data_dir: Path, backup: Path
) -> None:
    code, _, _ = await arunstream("restore", str(backup), "--data-dir", str(data_dir))
    assert code == 0
    live = data_dir / "runstream.db"
    conn = sqlite3.connect(live)
    (data,) = conn.execute("SELECT data FROM events WHERE position = 501").fetchone()
    forged = orjson.loads(data)
    forged["lostFrom"] = 320  # as if 301..319 were never there: a cut hidden as a restore
    conn.execute("UPDATE events SET data = ? WHERE position = 501", (orjson.dumps(forged),))
    conn.commit()
    conn.close()
    result = verify_file(live)
    assert result.first_bad_position == 501
    assert result.reason is not None
    assert "restore mark" in result.reason



async def test_a_restore_is_undone_by_restoring_the_file_it_kept(
    data_dir: Path, backup: Path
) -> None:
    """The kept file goes back in place: its positions are good again, and the marker of
    the undone restore (and what was written after it) become the lost part."""
    code, first, _ = await arunstream("restore", str(backup), "--data-dir", str(data_dir))
    assert code == 0
    await fill(data_dir / "runstream.db", 10, stream="run-c")  # 502..511
    code, undo, err = await arunstream("restore", first["replaced"], "--data-dir",
                                       str(data_dir))
    assert code == 0, err
    assert (undo["head"], undo["lostFrom"], undo["lostThrough"], undo["markerPosition"]) == (
        500, 501, 511, 512)
    result = verify_file(data_dir / "runstream.db")
    assert (result.ok, result.checked, result.head) == (True, 501, 512)


def test_a_restore_waits_a_moment_for_a_process_letting_go_of_the_file(tmp_path: Path) -> None:
    """Leaving WAL mode (restore settles the replaced file first) needs the file to itself;
    a connection closed a moment later, as a stopping server's are, does not fail it."""
    path = tmp_path / "stopping.db"
    holder = sqlite3.connect(path, check_same_thread=False)
    holder.execute("PRAGMA journal_mode = WAL")
    holder.execute("CREATE TABLE t (x)")
    holder.execute("INSERT INTO t VALUES (1)")
    holder.commit()
    letting_go = threading.Timer(0.3, holder.close)
    letting_go.start()
    try:
        settle(path)
    finally:
        letting_go.join()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]
    finally:
        conn.close()
