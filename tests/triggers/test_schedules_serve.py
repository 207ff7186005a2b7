"""A schedule on a running `runstream serve` starts runs by itself, and a SIGKILL and
restart do not start its fire time again."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.support.api import QUICK_WORKFLOW
from tests.support.server_process import Api, ServerProcess, admin_token, create_workflow

# A minute cron fires within 60 s of its creation; the rest is the run and the polling.
WITHIN_S = 90.0


async def _scheduled(api: Api, schedule_id: str) -> list[dict[str, Any]]:
    status, body = await api.request(
        "GET", f"/api/v1/workflow-runs?triggeredBy=schedule&triggerId={schedule_id}")
    assert status == 200, body
    return list(body["data"])


@pytest.mark.slow
async def test_a_schedule_on_a_running_server_starts_runs_on_its_own(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    await server.start()
    api = Api(server.base, await admin_token(server.base))
    try:
        workflow_id = await create_workflow(api, QUICK_WORKFLOW)
        status, body = await api.request(
            "POST", f"/api/v1/workflows/{workflow_id}/schedules",
            json={"cron": "* * * * *", "timezone": "Europe/Berlin", "inputs": {"n": 1}})
        assert status == 201, body
        schedule_id = body["data"]["id"]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WITHIN_S
        while not (runs := await _scheduled(api, schedule_id)) or \
                runs[0]["status"] != "completed":
            assert loop.time() < deadline, f"no scheduled run completed: {runs}"
            await asyncio.sleep(0.5)
        assert runs[0]["triggeredBy"] == {"kind": "schedule", "id": schedule_id}
        await server.restart(kill=True)
        fired = {run["id"] for run in await _scheduled(api, schedule_id)}
        assert runs[0]["id"] in fired
        status, body = await api.request(
            "GET", f"/api/v1/workflows/{workflow_id}/schedules/{schedule_id}")
        assert status == 200, body
        ids = [run["runId"] for run in body["data"]["lastRuns"]]
        assert len(ids) == len(set(ids))  # no fire time started twice
    finally:
        await api.close()
        await server.stop()
