"""The whole app on PostgreSQL (`database_url`): sign in, create a workflow, execute it
and read its v1 stream to the end, with nothing written to SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.app import create_app
from tests.support.api import QUICK_WORKFLOW, create_workflow, execute
from tests.support.auth import ADMIN_PASSWORD, login, make_settings
from tests.support.postgres import database_of_its_own
from tests.support.sse import read_frames


@pytest.fixture
def own_database() -> Iterator[str]:
    """A database for this test alone, dropped after it (and after the app: this fixture
    comes first)."""
    with database_of_its_own("runstream_app") as url:
        yield url


async def test_a_run_executes_and_streams_on_postgresql(
        own_database: str, aiohttp_client: Any, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, database_url=own_database, node_name="pg-node-1")
    client = await aiohttp_client(create_app(settings))
    health = await (await client.get("/healthz")).json()
    assert (health["backend"], health["node"]) == ("postgresql", "pg-node-1")
    await login(client, "admin", ADMIN_PASSWORD, expect=200)
    workflow_id = await create_workflow(client, QUICK_WORKFLOW)
    run = await execute(client, workflow_id, n=7)
    run_id = run["id"]
    assert run["status"] == "completed", run

    resp = await client.get(f"/api/v1/workflow-runs/{run_id}/stream")
    assert resp.status == 200
    frames = await read_frames(resp)
    assert frames[-1].event == "result"
    result = frames[-1].json()
    assert result["success"] is True
    assert result["workflowRun"]["id"] == run_id
    assert result["workflowRun"]["status"] == "completed"
    ids = [int(frame.id) for frame in frames if frame.id is not None]
    assert ids == sorted(set(ids))

    with psycopg.connect(own_database) as conn:
        logged = conn.execute("SELECT position FROM events WHERE stream = %s ORDER BY position",
                              (run_id,)).fetchall()
        (workflows,) = conn.execute("SELECT COUNT(*) FROM workflows WHERE id = %s",
                                    (workflow_id,)).fetchone() or (0,)
        (status,) = conn.execute("SELECT status FROM runs WHERE id = %s",
                                 (run_id,)).fetchone() or (None,)
    assert ids
    assert set(ids) <= {position for (position,) in logged}
    assert workflows == 1
    assert status == "completed"
    assert not (tmp_path / "runstream.db").exists()

    # The metrics see the PostgreSQL store's group commits as they see SQLite's.
    scraped = await client.get("/metrics")
    assert scraped.status == 200
    samples = {sample.name: sample.value
               for family in text_string_to_metric_families(await scraped.text())
               for sample in family.samples if not sample.labels}
    assert samples["runstream_commit_seconds_count"] >= 1
    assert samples["runstream_commit_seconds_count"] == samples[
        "runstream_commit_batch_jobs_count"]

    # The database's size is the server's own figure for it; the WAL is the whole server's.
    with psycopg.connect(own_database) as conn:
        (size,) = conn.execute("SELECT pg_database_size(current_database())").fetchone() or (0,)
    assert samples["runstream_database_bytes"] > 1_000_000  # an empty PostgreSQL database is ~7 MB
    assert abs(samples["runstream_database_bytes"] - size) < 1_000_000
    assert "runstream_wal_bytes" not in samples
