"""`runstream schedules list` on a data directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from tests.support.api import QUICK_WORKFLOW, create_workflow
from tests.support.cli import arun


@pytest.fixture(autouse=True)
def no_runstream_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads RUNSTREAM_* like `serve` does; keep the caller's environment out."""
    for name in [n for n in os.environ if n.startswith("RUNSTREAM_")]:
        monkeypatch.delenv(name)


async def test_schedules_list_shows_each_schedule_with_its_next_fire_times(
        admin: TestClient, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    other_id = await create_workflow(admin, QUICK_WORKFLOW)
    for workflow, cron in ((workflow_id, "@hourly"), (other_id, "0 9 * * 1")):
        resp = await admin.post(f"/api/v1/workflows/{workflow}/schedules",
                                json={"cron": cron, "timezone": "Europe/Berlin"})
        assert resp.status == 201, await resp.text()
    capsys.readouterr()  # the app's request log lines so far
    code, listed, _ = await arun(capsys, "schedules", "list", "--data-dir", str(tmp_path))
    assert code == 0
    assert sorted(s["cron"] for s in listed) == ["0 9 * * 1", "@hourly"]
    hourly = next(s for s in listed if s["cron"] == "@hourly")
    assert len(hourly["nextFireTimes"]) == 3
    assert hourly["nextFireTimes"][0].endswith(("+01:00", "+02:00"))
    code, only, _ = await arun(capsys, "schedules", "list", "--workflow", other_id,
                               "--data-dir", str(tmp_path))
    assert [s["workflowId"] for s in only] == [other_id]
