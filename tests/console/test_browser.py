"""The console in a real browser: headless Chromium (Debian's package) driven by Playwright,
against the app served in-process on a real port.

Chromium is installed with apt-get when /usr/bin/chromium is missing and we may (root, apt-get
present); otherwise these tests skip and say why. Playwright is only the driver: its own
browser download is never used.
"""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from tests.support.api import APPROVAL_WORKFLOW, QUICK_WORKFLOW, create_workflow, wait_for_status
from tests.support.auth import ADMIN_PASSWORD, USER_PASSWORD, create_member, create_user, login
from tests.support.browser import open_console, start_in_background
from tests.support.console import create_workspace

LIVE_WORKFLOW: dict[str, Any] = {
    "name": "Live pipeline",
    "nodes": [
        {"id": "prepare", "type": "transform", "name": "Prepare",
         "params": {"value": {"x": "{{inputs.x}}"}}},
        {"id": "wait", "type": "delay", "name": "Wait", "after": ["prepare"],
         "params": {"ms": 1500}},
        {"id": "finish", "type": "transform", "after": ["wait"],
         "params": {"value": "{{nodes.prepare.output.x}}"}},
    ],
}
LONG_WORKFLOW: dict[str, Any] = {
    "name": "Long wait",
    "nodes": [{"id": "sleep", "type": "delay", "params": {"ms": 600_000}}],
}



async def test_log_in_start_a_run_and_watch_its_nodes_complete_live(
    browser: Any, server: TestServer, admin_api: TestClient
) -> None:
    workflow_id = await create_workflow(admin_api, LIVE_WORKFLOW)
    console = await open_console(browser, server)
    page = console.page
    await console.login("admin", ADMIN_PASSWORD)
    assert "admin" in await page.inner_text("#who-name")

    await console.go(f"/workflows/{workflow_id}")
    # Inputs are checked before anything is sent.
    await page.fill("#run-inputs", '{"x": 42')
    assert await page.is_disabled("#start-run")
    assert "Not valid JSON" in await page.inner_text("#inputs-problem")
    await page.fill("#run-inputs", "[1, 2]")
    assert "JSON object" in await page.inner_text("#inputs-problem")
    await page.fill("#run-inputs", '{"x": 42}')
    await page.click("#start-run")

    await page.wait_for_url("**/#/runs/*")
    await console.node_status("prepare", "completed")
    await console.node_status("wait", "running")
    await page.wait_for_selector('tr.node-row[data-node-id="wait"] progress')
    await console.node_status("wait", "completed")
    await console.node_status("finish", "completed")
    await console.run_status("completed")
    finish_output = page.locator('tr.node-detail[data-node-id="finish"] pre.json').last
    assert (await finish_output.inner_text()).strip() == "42"
    assert await page.locator("#run-timeline li[data-type=RunCompleted]").count() == 1
    assert await page.locator("#cancel-run").count() == 0  # nothing left to cancel

    await page.click("#logout")
    await page.wait_for_selector("#login-form")
    assert console.errors == []


async def test_approve_a_waiting_node(
    browser: Any, server: TestServer, admin_api: TestClient
) -> None:
    workflow_id = await create_workflow(admin_api, APPROVAL_WORKFLOW)
    run_id = await start_in_background(admin_api, workflow_id)
    console = await open_console(browser, server)
    await console.login("admin", ADMIN_PASSWORD)
    await console.go(f"/runs/{run_id}")
    await console.node_status("approve", "waiting")
    assert "ship it?" in await console.page.inner_text('tr.node-detail[data-node-id="approve"]')
    await console.page.fill('tr.node-detail[data-node-id="approve"] input[name=comment]', "go")
    await console.page.click('button.approve[data-node="approve"]')
    await console.node_status("approve", "completed")
    await console.node_status("finish", "completed")
    await console.run_status("completed")
    assert console.errors == []


async def test_cancel_a_long_run_with_a_reason(
    browser: Any, server: TestServer, admin_api: TestClient
) -> None:
    workflow_id = await create_workflow(admin_api, LONG_WORKFLOW)
    run_id = await start_in_background(admin_api, workflow_id)
    console = await open_console(browser, server)
    await console.login("admin", ADMIN_PASSWORD)
    await console.go(f"/runs/{run_id}")
    await console.node_status("sleep", "running")
    await console.page.fill("#cancel-reason-input", "no longer needed")
    await console.page.click("#cancel-run")
    await console.node_status("sleep", "cancelled")
    await console.run_status("cancelled")
    assert await console.page.inner_text("#cancel-reason") == "no longer needed"
    assert (await wait_for_status(admin_api, run_id, "cancelled"))["cancelReason"] == (
        "no longer needed"
    )
    assert console.errors == []


async def test_run_list_and_counts_follow_new_runs_live(
    browser: Any, server: TestServer, admin_api: TestClient
) -> None:
    quick = await create_workflow(admin_api, QUICK_WORKFLOW)
    waiting = await create_workflow(admin_api, APPROVAL_WORKFLOW)
    console = await open_console(browser, server)
    page = console.page
    await console.login("admin", ADMIN_PASSWORD)
    await page.wait_for_selector(f'#run-counts tr[data-workflow-id="{quick}"] td.count-total')
    await page.wait_for_selector(".live-live")
    assert await console.count(quick, "completed") == "0"

    # Runs started elsewhere appear, and the counts move, without a reload.
    run_id = await start_in_background(admin_api, quick)
    await page.wait_for_selector(f'#runs-table tr[data-run-id="{run_id}"] [data-status=completed]')
    await page.wait_for_function(
        "([wf]) => document.querySelector(`#run-counts tr[data-workflow-id='${wf}'] "
        "td.count-completed`)?.textContent === '1'", arg=[quick],
    )
    blocked = await start_in_background(admin_api, waiting)
    await page.wait_for_selector(f'#runs-table tr[data-run-id="{blocked}"] [data-status=waiting]')
    assert await console.count(waiting, "waiting") == "1"

    # Filters: only waiting runs, then a search that matches nothing.
    await page.select_option("#run-filters select[name=status]", "waiting")
    await page.click("#run-filters button[type=submit]")
    await page.wait_for_function("() => document.querySelectorAll('#runs-table tbody tr').length === 1")
    assert await page.locator(f'#runs-table tr[data-run-id="{blocked}"]').count() == 1
    await page.fill("#run-filters input[name=search]", "no such workflow")
    await page.click("#run-filters button[type=submit]")
    await page.wait_for_selector("#runs-empty")
    assert console.errors == []


async def test_a_second_user_sees_none_of_the_first_users_runs(
    browser: Any, server: TestServer, admin_api: TestClient, aiohttp_client: Any
) -> None:
    await create_user(admin_api, "alice")
    await create_user(admin_api, "bob")
    alice_api: TestClient = await aiohttp_client(server)
    await login(alice_api, "alice", USER_PASSWORD)
    alice_space = await create_workspace(alice_api, "alice-space")
    alice_wf = await create_workflow(alice_api, {**QUICK_WORKFLOW, "workspaceId": alice_space})
    first = await alice_api.post(
        "/api/v1/workflow-runs/execute", json={"workflowId": alice_wf, "inputs": {"n": 1}}
    )
    alice_run = (await first.json())["data"]["id"]

    alice = await open_console(browser, server)
    await alice.login("alice", USER_PASSWORD)
    assert await alice.page.locator(f'#runs-table tr[data-run-id="{alice_run}"]').count() == 1

    bob = await open_console(browser, server)
    await bob.login("bob", USER_PASSWORD)
    await bob.page.wait_for_selector("#runs-empty")
    await bob.page.wait_for_selector(".live-live")
    # A run alice starts now passes bob's live list by.
    second = await alice_api.post(
        "/api/v1/workflow-runs/execute", json={"workflowId": alice_wf, "inputs": {"n": 2}}
    )
    second_run = (await second.json())["data"]["id"]
    await alice.page.wait_for_selector(f'#runs-table tr[data-run-id="{second_run}"]')
    await bob.page.wait_for_timeout(500)
    assert await bob.page.locator("#runs-table").count() == 0
    assert await bob.page.locator(f'#run-counts tr[data-workflow-id="{alice_wf}"]').count() == 0
    # Nor can he open one by its address.
    await bob.go(f"/runs/{alice_run}")
    await bob.page.wait_for_selector(".error")
    assert "not found" in (await bob.page.inner_text(".error")).lower()
    assert alice.errors == []
    assert bob.errors == []


async def test_a_viewer_sees_no_cancel_or_approve_controls(
    browser: Any, server: TestServer, admin_api: TestClient
) -> None:
    await create_member(admin_api, "vera", "viewer")
    workflow_id = await create_workflow(admin_api, APPROVAL_WORKFLOW)
    run_id = await start_in_background(admin_api, workflow_id)
    console = await open_console(browser, server)
    await console.login("vera", USER_PASSWORD)
    await console.go(f"/runs/{run_id}")
    await console.node_status("approve", "waiting")
    assert await console.page.locator("#cancel-run").count() == 0
    assert await console.page.locator("button.approve").count() == 0
    assert "runner role" in await console.page.inner_text("main")
    await console.go(f"/workflows/{workflow_id}")
    await console.page.wait_for_selector("text=Starting runs needs the runner role")
    assert console.errors == []
