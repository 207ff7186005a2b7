"""`runstream migrate --to postgresql://...`: a SQLite data directory with runs, users,
workflows, secrets, schedules, checkpoints and idempotency keys moves onto PostgreSQL
whole; `runstream serve` on the own_database signs the same users in, shows the old runs,
resumes a stream from an old Last-Event-ID and finishes a run that was waiting."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiohttp.test_utils import TestClient

from projections import all_projections
from service import keys
from service.app import create_app
from tests.support.api import (
    APPROVAL_WORKFLOW,
    QUICK_WORKFLOW,
    create_workflow,
    execute,
    wait_for_status,
)
from tests.support.auth import (
    ADMIN_PASSWORD,
    USER_PASSWORD,
    create_token,
    create_user,
    login,
    make_settings,
)
from tests.support.cli import arun
from tests.support.server_process import Api, ServerProcess
from tests.support.sse import read_frames

pytestmark = pytest.mark.slow

LOG_TABLES = {"events", "projection_checkpoints"}


@dataclass
class Populated:
    quick_run: str
    waiting_run: str
    token: str
    stream: list[tuple[str | None, str]]  # (id, data) of the quick run's v1 stream


async def populate(client: TestClient) -> Populated:
    """Something in every table the app keeps, through the API as a user would."""
    await login(client, "admin", ADMIN_PASSWORD)
    await create_user(client, "carol")
    token = (await create_token(client, "deploy"))["token"]
    workspace = await (await client.post("/api/v1/workspaces", json={"name": "Team"})).json()
    members = f"/api/v1/workspaces/{workspace['data']['id']}/members"
    assert (await client.post(members, json={"username": "carol", "role": "runner"})).status == 201
    assert (await client.put("/api/v1/workspaces/default/secrets/API_KEY",
                             json={"value": "kept-secret"})).status == 201
    workflow_id = await create_workflow(client, QUICK_WORKFLOW)
    resp = await client.put(f"/api/v1/workflows/{workflow_id}",
                            json={**QUICK_WORKFLOW, "name": "Quick sum 2"})
    assert resp.status == 200
    assert (await client.post(f"/api/v1/workflows/{workflow_id}/schedules", json={
        "cron": "0 3 * * *", "timezone": "UTC", "inputs": {"n": 1}})).status == 201
    resp = await client.post(f"/api/v1/workflows/{workflow_id}/webhooks", json={"auth": "none"})
    assert resp.status == 201
    quick = await execute(client, workflow_id, n=5)
    resp = await client.post("/api/v1/workflow-runs/execute", headers={"Idempotency-Key": "k1"},
                             json={"workflowId": workflow_id, "inputs": {"n": 6}})
    assert resp.status == 200
    app = client.server.app
    assert app is not None
    approval_id = await create_workflow(client, APPROVAL_WORKFLOW)
    # A run waiting for approval, with an env value sealed in run_secrets.
    waiting = await app[keys.ENGINE].start_run(approval_id, "default", {"x": 3},
                                               {"TOKEN": "run-secret"}, "test")
    await wait_for_status(client, waiting, "waiting")
    assert (await client.post("/api/v1/audit/checkpoints", json={})).status == 201
    frames = await read_frames(await client.get(f"/api/v1/workflow-runs/{quick['id']}/stream"))
    stream = [(f.id, f.data) for f in frames if f.data_lines and f.event != "ping"]
    return Populated(quick["id"], waiting, token, stream)


def sqlite_counts(path: Path) -> dict[str, int]:
    projection_tables = {t for p in all_projections() for t in p.tables()}
    conn = sqlite3.connect(path)
    try:
        names = [n for (n,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names
                if n not in LOG_TABLES | projection_tables}
    finally:
        conn.close()


def postgres_counts(url: str, tables: list[str]) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"'.encode()).fetchone()[0]  # type: ignore[index]
                for t in tables}


async def test_a_migrated_deployment_serves_on_postgresql_as_it_did_on_sqlite(
        own_database: str, aiohttp_client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "data"
    client = await aiohttp_client(create_app(make_settings(data_dir)))
    before = await populate(client)
    await client.close()
    capsys.readouterr()
    source = sqlite_counts(data_dir / "runstream.db")
    # Every kind of table beside the log holds something to copy.
    assert all(count > 0 for name, count in source.items()
               if name not in {"chats", "login_failures", "webhook_deliveries", "cluster_nodes",
                                 "workspace_retention"}), source

    code, out, err = await arun(capsys, "migrate", "--to", own_database, "--data-dir", str(data_dir))
    assert code == 0, err
    assert "migrate: events" in err
    assert "migrate: projections" in err
    verified = await arun(capsys, "verify", "--data-dir", str(data_dir))
    assert out["verified"] is True
    assert out["headHash"] == out["sourceHeadHash"] == verified[1]["headHash"]
    # Every table beside the log was copied, and whole: a table the migration did not
    # know would make this fail (or the migration refuse, naming it).
    assert out["tables"] == source
    assert {"users", "login_sessions", "api_tokens", "workspaces", "workspace_members",
            "workflows", "workflow_versions", "workspace_secrets", "run_secrets", "schedules",
            "idempotency_keys", "audit_checkpoints", "cluster_keys", "webhooks",
            "webhook_deliveries"} <= set(source)
    assert postgres_counts(own_database, list(source)) == source
    with psycopg.connect(own_database) as conn:
        sqlite_events = sqlite3.connect(data_dir / "runstream.db").execute(
            "SELECT position, hash FROM events ORDER BY position").fetchall()
        pg_events = conn.execute("SELECT position, hash FROM events ORDER BY position").fetchall()
    assert pg_events == sqlite_events

    # The own_database's own verify and rebuild agree.
    with monkeypatch.context() as env:
        env.setenv("RUNSTREAM_DATABASE_URL", own_database)
        code, report, err = await arun(capsys, "verify", "--data-dir", str(data_dir))
        assert code == 0, err
        assert report["headHash"] == out["headHash"]
        code, report, err = await arun(capsys, "rebuild", "--check", "--data-dir", str(data_dir))
        assert code == 0, err
        assert report["matches"] is True

    server = ServerProcess(data_dir, database_url=own_database)
    await server.start()
    api = Api(server.base)
    try:
        status, body = await api.request("POST", "/api/v1/auth/login",
                                         json={"username": "carol", "password": USER_PASSWORD})
        assert status == 200, body
        token_api = Api(server.base, before.token)
        try:
            status, body = await token_api.request(
                "GET", f"/api/v1/workflow-runs/{before.quick_run}")
            assert status == 200, body
            assert body["data"]["status"] == "completed"
            status, body = await token_api.request("GET", "/api/v1/workspaces/default/secrets")
            assert [s["name"] for s in body["data"]] == ["API_KEY"]
            # A client that read part of the stream before the move resumes after its id.
            last_id, _ = before.stream[1]
            async with token_api.http.get(
                    f"{server.base}/api/v1/workflow-runs/{before.quick_run}/stream",
                    headers={**token_api.headers(), "Last-Event-ID": str(last_id)}) as resp:
                assert resp.status == 200
                rest = [(f.id, f.data) for f in await read_frames(resp)
                        if f.data_lines and f.event != "ping"]
            assert rest == before.stream[2:]
            # The run that waited on SQLite goes on on PostgreSQL, its env value unsealed.
            status, body = await token_api.request(
                "POST", f"/api/v1/workflow-runs/{before.waiting_run}/nodes/approve/resume",
                json={"approved": True})
            assert status == 200, body
            for _ in range(300):
                status, body = await token_api.request(
                    "GET", f"/api/v1/workflow-runs/{before.waiting_run}")
                if body["data"]["status"] == "completed":
                    break
                await asyncio.sleep(0.05)
            assert body["data"]["status"] == "completed", body
        finally:
            await token_api.close()
    finally:
        await api.close()
        await server.stop()


async def test_a_target_that_holds_a_log_is_refused_and_left_alone(
        own_database: str, aiohttp_client: Any, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    client = await aiohttp_client(create_app(make_settings(tmp_path / "a")))
    await login(client, "admin", ADMIN_PASSWORD)
    await execute(client, await create_workflow(client, QUICK_WORKFLOW), n=1)
    await client.close()
    other = await aiohttp_client(create_app(make_settings(tmp_path / "b", database_url=own_database)))
    await login(other, "admin", ADMIN_PASSWORD)
    await execute(other, await create_workflow(other, QUICK_WORKFLOW), n=2)
    await other.close()
    capsys.readouterr()
    with psycopg.connect(own_database) as conn:
        head = conn.execute("SELECT position, hash FROM event_head").fetchone()
    code, out, err = await arun(capsys, "migrate", "--to", own_database, "--data-dir",
                                str(tmp_path / "a"))
    assert code == 1
    assert out is None
    assert "already holds a log" in err
    with psycopg.connect(own_database) as conn:
        assert conn.execute("SELECT position, hash FROM event_head").fetchone() == head


async def test_a_table_the_migration_does_not_know_stops_it(
        own_database: str, aiohttp_client: Any, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "data"
    client = await aiohttp_client(create_app(make_settings(data_dir)))
    await login(client, "admin", ADMIN_PASSWORD)
    await client.close()
    conn = sqlite3.connect(data_dir / "runstream.db")
    with conn:
        conn.execute("CREATE TABLE notices (id TEXT PRIMARY KEY)")
        conn.execute("INSERT INTO notices VALUES ('w1')")
    conn.close()
    capsys.readouterr()
    code, _, err = await arun(capsys, "migrate", "--to", own_database, "--data-dir", str(data_dir))
    assert code == 1
    assert "no table notices" in err
    with psycopg.connect(own_database) as pg:
        assert pg.execute("SELECT count(*) FROM users").fetchone() == (0,)
        assert pg.execute("SELECT count(*) FROM events").fetchone() == (0,)


async def test_a_source_whose_chain_does_not_hold_is_not_migrated(
        own_database: str, aiohttp_client: Any, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "data"
    client = await aiohttp_client(create_app(make_settings(data_dir)))
    await login(client, "admin", ADMIN_PASSWORD)
    await execute(client, await create_workflow(client, QUICK_WORKFLOW), n=1)
    await client.close()
    conn = sqlite3.connect(data_dir / "runstream.db")
    with conn:
        conn.execute("UPDATE events SET data = CAST('{\"n\":999}' AS BLOB) WHERE position = 2")
    conn.close()
    capsys.readouterr()
    code, out, err = await arun(capsys, "migrate", "--to", own_database, "--data-dir",
                                str(data_dir))
    assert code == 1
    assert out is None
    assert "chain does not hold at position 2" in err
    with psycopg.connect(own_database) as pg:
        tables = pg.execute("SELECT count(*) FROM information_schema.tables"
                            " WHERE table_schema = 'public'").fetchone()
    assert tables == (0,)
