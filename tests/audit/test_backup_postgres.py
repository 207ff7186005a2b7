"""The cursor rule on PostgreSQL: a database put back with pg_dump / pg_restore is marked
with `runstream restore --mark --lost-through N` before the nodes start again, and then a
cursor from the lost history gets 409 while one from the kept part resumes."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from eventstore.lost_history import LOG_RESTORED
from eventstore.postgres import verify_url
from service.app import create_app
from service.store import open_event_store
from tests.dialects.helpers import read_stream
from tests.support.api import APPROVAL_WORKFLOW, create_workflow, wait_for_status
from tests.support.auth import ADMIN_PASSWORD, login, make_settings
from tests.support.eventstore import tick
from tests.support.postgres import database_of_its_own
from tests.support.server_process import clean_environ, runstream_command

pytestmark = pytest.mark.skipif(shutil.which("pg_dump") is None or
                                shutil.which("pg_restore") is None,
                                reason="pg_dump and pg_restore are not installed")


@pytest.fixture
def own_database() -> Iterator[str]:
    with database_of_its_own("runstream_restore") as url:
        yield url


def runstream(url: str, data_dir: Path, *args: str) -> tuple[int, Any, str]:
    done = subprocess.run([*runstream_command(), *args, "--data-dir", str(data_dir)],
                          capture_output=True, env=clean_environ(database_url=url),
                          timeout=120, check=False)
    out = done.stdout.decode()
    return done.returncode, orjson.loads(out) if out.strip() else None, done.stderr.decode()


def pg(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=120)


async def started(aiohttp_client: Any, url: str, data_dir: Path) -> TestClient:
    client: TestClient = await aiohttp_client(
        create_app(make_settings(data_dir, database_url=url)))
    await login(client, "admin", ADMIN_PASSWORD, expect=200)
    return client


async def last_id_after(client: TestClient, url: str, cursor: int) -> int:
    status, frames, _ = await read_stream(
        client, "GET", url, headers={"Last-Event-ID": str(cursor)},
        until=lambda frame: frame.id is not None and int(frame.id) > cursor)
    assert status == 200
    return int(frames[-1].id or 0)


async def test_a_restored_postgresql_database_is_marked_and_refuses_lost_cursors(
    own_database: str, aiohttp_client: Any, tmp_path: Path
) -> None:
    url, data_dir, dump = own_database, tmp_path / "data", tmp_path / "log.dump"
    before = await started(aiohttp_client, url, data_dir)
    workflow_id = await create_workflow(before, APPROVAL_WORKFLOW)
    resp = await before.post("/api/v1/workflow-runs/execute/stream?onDisconnect=continue",
                             json={"workflowId": workflow_id, "inputs": {"x": 1}})
    run_id = resp.headers["X-Workflow-Run-Id"]
    resp.close()
    await wait_for_status(before, run_id, "waiting")
    kept_head = int((await (await before.get("/healthz")).json())["head"])
    await asyncio.to_thread(pg, "pg_dump", "-Fc", "-d", url, "-f", str(dump))

    resp = await before.post(f"/api/v1/workflow-runs/{run_id}/nodes/approve/resume",
                             json={"approved": True})
    assert resp.status == 200
    await wait_for_status(before, run_id, "completed")
    lost_cursor = await last_id_after(before, "/api/v1/events/stream", kept_head)
    lost_head = int((await (await before.get("/healthz")).json())["head"])
    assert kept_head < lost_cursor <= lost_head

    # A node still connected: the mark is refused.
    code, _, err = await asyncio.to_thread(runstream, url, data_dir, "restore", "--mark",
                                           "--lost-through", str(lost_head))
    assert code == 2
    assert "stop every node" in err
    await before.close()

    await asyncio.to_thread(pg, "pg_restore", "--clean", "--if-exists", "-d", url, str(dump))
    assert (await verify_url(url)).head == kept_head
    code, _, err = await asyncio.to_thread(runstream, url, data_dir, "restore", "--mark")
    assert code == 2
    assert "--lost-through" in err
    code, report, err = await asyncio.to_thread(runstream, url, data_dir, "restore", "--mark",
                                                "--lost-through", str(lost_head))
    assert code == 0, err
    assert (report["head"], report["lostFrom"], report["markerPosition"]) == (
        kept_head, kept_head + 1, lost_head + 1)

    after = await started(aiohttp_client, url, data_dir)
    await wait_for_status(after, run_id, "waiting")
    resp = await after.post(f"/api/v1/workflow-runs/{run_id}/nodes/approve/resume",
                            json={"approved": True})
    assert resp.status == 200
    await wait_for_status(after, run_id, "completed")
    for path in ("/api/v1/events/stream", f"/api/v1/workflow-runs/{run_id}/stream"):
        resp = await after.get(path, headers={"Last-Event-ID": str(lost_cursor)})
        assert resp.status == 409, path
        assert (await resp.json())["error"]["code"] == "cursor_beyond_log"
    # From the kept part: the marker first, then the new history, past every lost position.
    status, frames, _ = await read_stream(after, "GET", "/api/v1/events/stream",
                                          headers={"Last-Event-ID": str(kept_head)}, limit=2)
    assert status == 200
    marker, following = (orjson.loads(frame.data) for frame in frames)
    assert (marker["position"], marker["type"]) == (lost_head + 1, LOG_RESTORED)
    assert following["position"] == lost_head + 2
    assert following["stream"] == run_id
    result = await verify_url(url)
    assert result.ok, result


async def test_a_restored_sqlite_log_migrates_with_its_hole_kept(
    own_database: str, tmp_path: Path
) -> None:
    """`runstream migrate` onto PostgreSQL continues after the last position, so the
    positions a restore left out stay unused there too."""
    data_dir = tmp_path / "data"
    store = await open_event_store(make_settings(data_dir))
    try:
        await store.append("run-a", [tick(n) for n in range(30)])
    finally:
        await store.close()
    shutil.copy(data_dir / "runstream.db", tmp_path / "backup.db")
    store = await open_event_store(make_settings(data_dir))
    try:
        await store.append("run-b", [tick(n) for n in range(20)])
    finally:
        await store.close()
    sqlite_env = clean_environ()
    for argv in (["restore", str(tmp_path / "backup.db")], ["migrate", "--to", own_database]):
        done = await asyncio.to_thread(
            subprocess.run, [*runstream_command(), *argv, "--data-dir", str(data_dir)],
            capture_output=True, env=sqlite_env, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
    store = await open_event_store(make_settings(data_dir, database_url=own_database))
    try:
        (appended,) = await store.append("run-c", [tick(1)])
    finally:
        await store.close()
    assert appended.position == 52  # 1..30 kept, 31..50 lost, 51 the marker
    result = await verify_url(own_database)
    assert (result.ok, result.checked, result.head) == (True, 32, 52)
