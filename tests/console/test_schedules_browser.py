"""A workflow's schedules on its page, in a real browser (see test_browser.py for how): an
editor creates one (and it is in the API afterwards, with the fire times the API counts),
sees the run it fired, pauses, resumes and deletes it; a bad cron is refused with the API's
message and nothing stored; a viewer reads the schedules without any control."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from service import keys
from service.settings import Settings
from tests.support.api import QUICK_WORKFLOW, create_workflow, wait_for_status
from tests.support.auth import (
    ADMIN_PASSWORD,
    USER_PASSWORD,
    create_member,
    make_settings,
)
from tests.support.browser import open_console

# A Monday, 10:00:20 in Berlin.
T0 = datetime(2026, 1, 5, 9, 0, 20, tzinfo=UTC)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # No background ticks: the test moves the scheduler's clock and ticks it itself.
    return make_settings(tmp_path, schedule_tick_s=0)


@pytest.fixture
def clock(server: TestServer) -> Clock:
    at = Clock(T0)
    server.app[keys.SCHEDULE_RUNNER].clock = at
    return at


async def schedules(api: TestClient, workflow_id: str) -> list[dict[str, Any]]:
    resp = await api.get(f"/api/v1/workflows/{workflow_id}/schedules")
    body = await resp.json()
    assert resp.status == 200, body
    return list(body["data"])


def row(schedule_id: str, enabled: bool | None = None) -> str:
    state = "" if enabled is None else f'[data-enabled="{str(enabled).lower()}"]'
    return f'#schedules-table tr[data-schedule-id="{schedule_id}"]{state}'


async def test_an_editor_creates_pauses_resumes_and_deletes_a_schedule(
    browser: Any, server: TestServer, admin_api: TestClient, clock: Clock
) -> None:
    workflow_id = await create_workflow(admin_api, QUICK_WORKFLOW)
    console = await open_console(browser, server)
    page = console.page
    await console.login("admin", ADMIN_PASSWORD)
    await console.go(f"/workflows/{workflow_id}")
    await page.wait_for_selector("#no-schedules")
    await page.fill("#schedule-cron", "0 9 * * 1-5")
    await page.fill("#schedule-timezone", "Europe/Berlin")
    await page.select_option("#schedule-overlap", "allow")
    await page.select_option("#schedule-catch-up", "latest")
    await page.fill("#schedule-inputs", '{"n": 7}')
    await page.click("#add-schedule")
    await page.wait_for_selector("#schedules-table tbody tr")

    [made] = await schedules(admin_api, workflow_id)
    assert (made["cron"], made["timezone"], made["overlap"], made["catchUp"], made["enabled"],
            made["inputs"]) == ("0 9 * * 1-5", "Europe/Berlin", "allow", "latest", True, {"n": 7})
    # The page shows the fire times the API counted, as wall times in the schedule's zone.
    shown = await page.locator(f"{row(made['id'])} .schedule-next li").all_inner_texts()
    assert shown == ["2026-01-06 09:00 +01:00", "2026-01-07 09:00 +01:00",
                     "2026-01-08 09:00 +01:00", "2026-01-09 09:00 +01:00",
                     "2026-01-12 09:00 +01:00"]
    assert await page.locator(f"{row(made['id'])} .schedule-runs").inner_text() == "none yet"

    # Tuesday 09:00 in Berlin comes: the schedule fires and its run is listed.
    clock.at = datetime(2026, 1, 6, 8, 0, 1, tzinfo=UTC)
    [run_id] = await server.app[keys.SCHEDULE_RUNNER].tick()
    await wait_for_status(admin_api, run_id, "completed")
    await page.reload()
    await page.wait_for_selector(f'{row(made["id"])} .last-runs li[data-run-id="{run_id}"]')
    assert (await page.locator(f"{row(made['id'])} .schedule-next li").all_inner_texts())[0] \
        == "2026-01-07 09:00 +01:00"
    # Its runs, through the run list's trigger filter: this one run, started by the schedule.
    other = await admin_api.post("/api/v1/workflow-runs/execute",
                                 json={"workflowId": workflow_id, "inputs": {"n": 1}})
    assert other.status == 200, await other.text()
    await page.click(f"{row(made['id'])} .all-runs")
    await page.wait_for_selector(f'#runs-table tr[data-run-id="{run_id}"]')
    assert await page.locator("#runs-table tbody tr").count() == 1
    assert await page.inner_text(f'#runs-table tr[data-run-id="{run_id}"] .run-by') \
        == f"schedule {made['id'][:8]}"
    await page.click(f'#runs-table tr[data-run-id="{run_id}"] a')
    await page.wait_for_selector("#triggered-by")
    assert (await page.inner_text("#triggered-by")).startswith(f"schedule {made['id'][:8]}")
    await console.go(f"/workflows/{workflow_id}")
    await page.wait_for_selector(row(made["id"]))

    await page.click(f"{row(made['id'])} .toggle-schedule")
    await page.wait_for_selector(row(made["id"], enabled=False))
    assert [s["enabled"] for s in await schedules(admin_api, workflow_id)] == [False]
    assert await page.inner_text(f"{row(made['id'])} .schedule-state") == "paused"
    await page.click(f"{row(made['id'])} .toggle-schedule")
    await page.wait_for_selector(row(made["id"], enabled=True))
    assert [s["enabled"] for s in await schedules(admin_api, workflow_id)] == [True]

    # Delete asks once more; "Keep" keeps it.
    await page.click(f"{row(made['id'])} .delete-schedule")
    await page.click(f"{row(made['id'])} .keep-schedule")
    await page.click(f"{row(made['id'])} .delete-schedule")
    await page.click(f"{row(made['id'])} .confirm-delete")
    await page.wait_for_selector("#no-schedules")
    assert await schedules(admin_api, workflow_id) == []
    # Its run stays.
    resp = await admin_api.get(f"/api/v1/workflow-runs/{run_id}")
    assert resp.status == 200
    assert console.errors == []


async def test_a_bad_cron_is_refused_with_the_apis_message_and_nothing_stored(
    browser: Any, server: TestServer, admin_api: TestClient, clock: Clock
) -> None:
    workflow_id = await create_workflow(admin_api, QUICK_WORKFLOW)
    console = await open_console(browser, server)
    page = console.page
    await console.login("admin", ADMIN_PASSWORD)
    await console.go(f"/workflows/{workflow_id}")
    await page.wait_for_selector("#no-schedules")
    await page.fill("#schedule-cron", "61 * * * *")
    await page.click("#add-schedule")
    await page.wait_for_selector("#schedule-problem .error")
    assert "(400)" in await page.inner_text("#schedule-problem")
    await page.fill("#schedule-cron", "* * * * *")
    await page.fill("#schedule-timezone", "Mars/Olympus")
    await page.click("#add-schedule")
    await page.wait_for_function(
        "() => document.querySelector('#schedule-problem')?.textContent.includes('Mars/Olympus')")
    # Inputs that are not a JSON object never leave the page.
    await page.fill("#schedule-timezone", "UTC")
    await page.fill("#schedule-inputs", "[1, 2]")
    await page.click("#add-schedule")
    await page.wait_for_function(
        "() => document.querySelector('#schedule-problem')?.textContent.includes('JSON object')")
    assert await schedules(admin_api, workflow_id) == []
    assert await page.locator("#no-schedules").count() == 1
    assert console.errors == []


async def test_a_viewer_reads_the_schedules_without_controls(
    browser: Any, server: TestServer, admin_api: TestClient, clock: Clock
) -> None:
    await create_member(admin_api, "vera", "viewer")
    workflow_id = await create_workflow(admin_api, QUICK_WORKFLOW)
    resp = await admin_api.post(f"/api/v1/workflows/{workflow_id}/schedules",
                                json={"cron": "@hourly", "enabled": False})
    assert resp.status == 201, await resp.text()
    made = (await resp.json())["data"]
    console = await open_console(browser, server)
    page = console.page
    await console.login("vera", USER_PASSWORD)
    await console.go(f"/workflows/{workflow_id}")
    await page.wait_for_selector(row(made["id"], enabled=False))
    assert await page.inner_text(f"{row(made['id'])} .schedule-cron") == "@hourly"
    assert await page.inner_text(f"{row(made['id'])} .schedule-next") == "paused"
    assert await page.locator(
        "#schedule-form, .toggle-schedule, .delete-schedule, .schedule-actions").count() == 0
    assert "needs the editor role" in await page.inner_text("#schedules-card")
    # The API refuses her a change in any case.
    assert await page.evaluate(
        """async (url) => (await fetch(url, {method: 'PATCH', credentials: 'same-origin',
             headers: {'Content-Type': 'application/json'},
             body: JSON.stringify({enabled: true})})).status""",
        f"/api/v1/workflows/{workflow_id}/schedules/{made['id']}") == 403
    assert [s["enabled"] for s in await schedules(admin_api, workflow_id)] == [False]
    assert console.errors == []
