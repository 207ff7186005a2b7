"""The database goes away under a real `runstream serve` on PostgreSQL: its connections
are cut (pg_terminate_backend), again and again, and for a while no new one is let in.
Writes meanwhile get 503 with a JSON error, nothing acknowledged is lost, the node
reconnects by itself, and a stream resumes from its Last-Event-ID with no gap and no
duplicate. Only this test's own database is touched: the server keeps running."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from eventstore.postgres import verify_url
from tests.support.api import APPROVAL_WORKFLOW, QUICK_WORKFLOW
from tests.support.polling import wait_for
from tests.support.postgres import SERVER_URL
from tests.support.server_process import Api, ServerProcess, admin_token, create_workflow
from tests.support.sse import SSEFrame, iter_frames, read_frames

pytestmark = pytest.mark.slow


def cut_connections(url: str) -> int:
    """pg_terminate_backend on every connection to `url`'s database but this one."""
    name = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()", (name,)).fetchall()
    return len(rows)


def allow_connections(url: str, allowed: bool) -> None:
    name = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}'.encode())


class Writers:
    """Clients starting runs as fast as they are answered; what each answer said."""

    def __init__(self, api: Api, workflow_id: str) -> None:
        self.api = api
        self.workflow_id = workflow_id
        self.acknowledged: list[str] = []
        self.refusals: list[Any] = []
        self.stop = asyncio.Event()

    async def write(self, n: int) -> None:
        i = 0
        while not self.stop.is_set():
            i += 1
            try:
                status, body = await self.api.request(
                    "POST", "/api/v1/workflow-runs/execute",
                    json={"workflowId": self.workflow_id, "inputs": {"n": n * 1000 + i}})
            except (TimeoutError, OSError) as exc:  # not an answer: acknowledges nothing
                self.refusals.append(repr(exc))
                continue
            if status == 200:
                self.acknowledged.append(body["data"]["id"])
            else:
                self.refusals.append((status, body))
                await asyncio.sleep(0.05)


async def test_writes_are_refused_while_the_database_is_gone_and_nothing_acknowledged_is_lost(
        own_database: str, tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "node", database_url=own_database)
    await server.start()
    api = Api(server.base, await admin_token(server.base))
    try:
        quick = await create_workflow(api, QUICK_WORKFLOW)
        approval = await create_workflow(api, APPROVAL_WORKFLOW)
        # A run waiting for approval, and a client that read its stream that far.
        async with api.http.post(
                f"{server.base}/api/v1/workflow-runs/execute/stream?onDisconnect=continue",
                json={"workflowId": approval, "inputs": {"x": 1}}, headers=api.headers()) as r:
            assert r.status == 200, await r.text()
            waiting = r.headers["X-Workflow-Run-Id"]
        stream_url = f"{server.base}/api/v1/workflow-runs/{waiting}/stream"
        seen: list[SSEFrame] = []
        async with api.http.get(stream_url, headers=api.headers()) as resp:
            async for frame in iter_frames(resp):
                if frame.data_lines and frame.event != "ping":
                    seen.append(frame)
                if frame.event == "activity-run" and frame.json()["content"]["status"] == "waiting":
                    break

        writers = Writers(api, quick)
        tasks = [asyncio.create_task(writers.write(n)) for n in range(4)]
        for _ in range(5):  # the server drops the connections, again and again
            await asyncio.sleep(0.3)
            cut_connections(own_database)
        # Then it is gone for a while: none of the node's connections, and no new one.
        # A write meanwhile is refused with 503 (runs already going wait for it instead,
        # and so do the requests waiting for them).
        allow_connections(own_database, False)
        try:
            cut_connections(own_database)
            for method, path, body in (
                    ("POST", "/api/v1/workflows", {**QUICK_WORKFLOW, "name": "During"}),
                    ("POST", "/api/v1/workflow-runs/execute", {"workflowId": quick}),
                    ("PUT", "/api/v1/workspaces/default/secrets/DURING", {"value": "x"})):
                status, answer = await api.request(method, path, json=body)
                assert status == 503, (path, status, answer)
                assert answer["error"]["code"] == "unavailable", answer
                assert "PostgreSQL" in answer["error"]["message"], answer
        finally:
            allow_connections(own_database, True)
        for refusal in writers.refusals:  # the writers' refusals, if any, were the same
            if isinstance(refusal, tuple):
                assert refusal[0] == 503, refusal
                assert refusal[1]["error"]["code"] == "unavailable", refusal
        # Back: the node reconnects by itself and takes writes again.
        before = len(writers.acknowledged)
        await wait_for(lambda: len(writers.acknowledged) >= before + 5, 60,
                       lambda: f"writes never came back: {writers.refusals[-3:]}")
        writers.stop.set()
        await asyncio.gather(*tasks)

        # Nothing acknowledged is lost: every run is there and finishes.
        async def finished(run_id: str) -> bool:
            status, body = await api.request("GET", f"/api/v1/workflow-runs/{run_id}")
            return status == 200 and body["data"]["status"] == "completed"

        for run_id in writers.acknowledged:
            await wait_for(lambda run_id=run_id: finished(run_id), 60,
                           lambda run_id=run_id: f"run {run_id} lost or unfinished")

        # So does every run that started at all (its start recorded, its answer a 503):
        # none is left unfinished because the store was gone when it went to go on.
        def unfinished() -> list[Any]:
            with psycopg.connect(own_database) as conn:
                return conn.execute("SELECT id, status FROM runs WHERE id <> %s"
                                    " AND status <> 'completed'", (waiting,)).fetchall()

        await wait_for(lambda: not unfinished(), 60, lambda: f"runs left: {unfinished()}")

        # The stream resumes after its last id with exactly the rest.
        status, body = await api.request(
            "POST", f"/api/v1/workflow-runs/{waiting}/nodes/approve/resume",
            json={"approved": True})
        assert status == 200, body
        await wait_for(lambda: finished(waiting), 60, lambda: "the approved run never finished")
        last_id = [f.id for f in seen if f.id][-1]
        async with api.http.get(stream_url, headers=api.headers({"Last-Event-ID": last_id})) as r:
            rest = [f for f in await read_frames(r) if f.data_lines and f.event != "ping"]
        async with api.http.get(stream_url, headers=api.headers()) as r:
            everything = [f for f in await read_frames(r) if f.data_lines and f.event != "ping"]
        assert [f.data for f in seen + rest] == [f.data for f in everything]
        ids = [int(f.id) for f in seen + rest if f.id]
        assert ids == sorted(set(ids))
        result = await verify_url(own_database)
        assert result.ok, result
    finally:
        await api.close()
        await server.stop()
        allow_connections(own_database, True)
