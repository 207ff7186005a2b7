"""The console in a real browser: headless Chromium (Debian's package) driven by Playwright,
against the app served in-process on a real port.

Chromium is installed with apt-get when /usr/bin/chromium is missing and we may (root, apt-get
present); otherwise these tests skip and say why. Playwright is only the driver: its own
browser download is never used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from service import keys
from service.app import create_app
from service.settings import Settings, load_settings
from tests.support.api import APPROVAL_WORKFLOW, QUICK_WORKFLOW, create_workflow, wait_for_status
from tests.support.auth import ADMIN_PASSWORD, USER_PASSWORD, create_user, login
from tests.support.browser import CHROMIUM_ARGS
from tests.support.console import create_workspace

async_api = pytest.importorskip(
    "playwright.async_api", reason="playwright is not installed (pip install -e '.[dev]')"
)

STEP_MS = 10_000  # the longest any single UI step may take

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




@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        overrides={"data_dir": tmp_path, "admin_password": ADMIN_PASSWORD, "synchronous": "NORMAL"},
        environ={},
    )


@pytest.fixture
async def server(aiohttp_server: Any, settings: Settings) -> TestServer:
    srv: TestServer = await aiohttp_server(create_app(settings))
    return srv


@pytest.fixture
async def admin_api(aiohttp_client: Any, server: TestServer) -> TestClient:
    client: TestClient = await aiohttp_client(server)
    await login(client, "admin", ADMIN_PASSWORD)
    return client


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Any]:
    async with async_api.async_playwright() as playwright:
        # Playwright gives every launch a fresh, empty profile directory.
        instance = await playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        yield instance
        await instance.close()


class Console:
    """One browser context (own cookies) on the console, failing on any script error."""

    def __init__(self, page: Any, base: str) -> None:
        self.page = page
        self.base = base
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.set_default_timeout(STEP_MS)

    async def login(self, username: str, password: str) -> None:
        await self.page.goto(self.base + "/")
        await self.page.fill("#login-form input[name=username]", username)
        await self.page.fill("#login-form input[name=password]", password)
        await self.page.click("#login-form button[type=submit]")
        await self.page.wait_for_selector("#runs-table, #runs-empty")

    async def go(self, hash_path: str) -> None:
        await self.page.goto(f"{self.base}/#{hash_path}")

    async def node_status(self, node_id: str, status: str) -> None:
        await self.page.wait_for_selector(
            f'tr.node-row[data-node-id="{node_id}"][data-status="{status}"]'
        )

    async def run_status(self, status: str) -> None:
        await self.page.wait_for_selector(f'#run-status [data-status="{status}"]')

    async def count(self, workflow_id: str, status: str) -> str:
        cell = self.page.locator(f'#run-counts tr[data-workflow-id="{workflow_id}"] td.count-{status}')
        return str(await cell.inner_text())


async def open_console(browser: Any, server: TestServer) -> Console:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    return Console(await context.new_page(), str(server.make_url("")).rstrip("/"))


async def start_in_background(client: TestClient, workflow_id: str, user: str = "test") -> str:
    """Start a run without waiting for it (the blocking execute endpoint would)."""
    app = client.server.app
    assert app is not None
    return str(await app[keys.ENGINE].start_run(workflow_id, "default", {}, {}, user))


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
    assert alice.errors == [] and bob.errors == []


async def test_a_viewer_sees_no_cancel_or_approve_controls(
    browser: Any, server: TestServer, admin_api: TestClient
) -> None:
    await create_user(admin_api, "vera")
    resp = await admin_api.post(
        "/api/v1/workspaces/default/members", json={"username": "vera", "role": "viewer"}
    )
    assert resp.status == 201, await resp.text()
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


# -- the graph view -----------------------------------------------------------------------

BRANCHING_WORKFLOW: dict[str, Any] = {
    "name": "Branching",
    "nodes": [
        {"id": "fetch", "type": "transform", "params": {"value": {"status": "{{inputs.code}}"}}},
        {"id": "check", "type": "condition", "after": ["fetch"],
         "params": {"left": "{{nodes.fetch.output.status}}", "op": "eq", "right": 200}},
        {"id": "ok", "type": "transform", "after": [{"node": "check", "branch": True}],
         "params": {"value": "fine"}},
        {"id": "bad", "type": "fail", "after": [{"node": "check", "branch": False}],
         "params": {"message": "ticket not found"}},
        {"id": "report", "type": "noop", "after": ["bad"]},
    ],
}


def graph_node(node_id: str, status: str = "") -> str:
    state = f'[data-status="{status}"]' if status else ""
    return f'#run-graph .gnode[data-node-id="{node_id}"]{state}'


async def test_a_runs_graph_goes_from_scheduled_to_completed_live(
    browser: Any, server: TestServer, admin_api: TestClient
) -> None:
    workflow_id = await create_workflow(admin_api, {
        **LIVE_WORKFLOW, "nodes": [{**node, "params": {"ms": 3000}} if node["id"] == "wait"
                                   else node for node in LIVE_WORKFLOW["nodes"]]})
    run_id = await start_in_background(admin_api, workflow_id)
    console = await open_console(browser, server)
    page = console.page
    await console.login("admin", ADMIN_PASSWORD)
    await console.go(f"/runs/{run_id}")
    # While the delay runs, what follows it is still scheduled, and the delay shows progress.
    await page.wait_for_selector(graph_node("wait", "running"))
    assert await page.locator(graph_node("finish", "scheduled")).count() == 1
    assert await page.locator(graph_node("prepare", "completed")).count() == 1
    await page.wait_for_function(
        "() => Number(document.querySelector('#run-graph .gnode[data-node-id=wait]')"
        "?.dataset.progress) > 0")
    await page.wait_for_selector(graph_node("finish", "completed"))
    await console.run_status("completed")
    facts = await page.text_content(graph_node("wait") + " .gnode-facts") or ""
    assert facts.startswith("completed · attempt 1 · ") and facts.endswith(" s"), facts
    # A click opens the node's panel with what the log holds for it.
    await page.click(graph_node("finish"))
    await page.wait_for_selector('#node-panel[data-node-id="finish"]')
    assert (await page.inner_text("#node-panel .panel-output pre.json")).strip() == "null"
    assert await page.inner_text("#node-panel .panel-attempt") == "1"
    assert console.errors == []


async def test_a_failed_node_shows_failed_and_a_branch_not_taken_skipped(
    browser: Any, server: TestServer, admin_api: TestClient
) -> None:
    workflow_id = await create_workflow(admin_api, BRANCHING_WORKFLOW)
    app = admin_api.server.app
    assert app is not None
    engine = app[keys.ENGINE]
    passed = str(await engine.start_run(workflow_id, "default", {"code": 200}, {}, "test"))
    failed = str(await engine.start_run(workflow_id, "default", {"code": 404}, {}, "test"))
    await wait_for_status(admin_api, passed, "completed")
    await wait_for_status(admin_api, failed, "failed")
    console = await open_console(browser, server)
    page = console.page
    await console.login("admin", ADMIN_PASSWORD)

    await console.go(f"/runs/{passed}")
    await page.wait_for_selector(graph_node("ok", "completed"))
    for skipped in ("bad", "report"):
        assert await page.locator(graph_node(skipped, "skipped")).count() == 1, skipped
    # Branch edges say which branch they follow; edges into skipped nodes are drawn as such.
    labels = await page.locator("#run-graph .gedge-label").all_text_contents()
    assert sorted(labels) == ["false", "true"]
    assert await page.locator('#run-graph .gedge.to-skipped[data-to="report"]').count() == 1
    await page.click(graph_node("bad"))
    assert "did not take" in await page.inner_text('#node-panel[data-node-id="bad"]')

    await console.go(f"/runs/{failed}")
    await page.wait_for_selector(graph_node("bad", "failed"))
    assert await page.locator(graph_node("check", "completed")).count() == 1
    # Failed nodes are drawn in the failure colour (the stylesheet's --bad).
    stroke = await page.eval_on_selector(graph_node("bad") + " .gnode-box",
                                         "el => getComputedStyle(el).stroke")
    assert stroke == "rgb(197, 48, 48)", stroke
    await page.click(graph_node("bad"))
    await page.wait_for_selector('#node-panel[data-node-id="bad"] .node-error')
    assert "ticket not found" in await page.inner_text("#node-panel .node-error")
    await page.click("#node-panel-close")
    assert await page.locator("#node-panel").count() == 0
    assert console.errors == []


async def test_a_graph_of_a_hundred_nodes_has_no_overlaps_and_zooms(
    browser: Any, server: TestServer, admin_api: TestClient
) -> None:
    # Ten chains of ten, each chain fed by the one before at its middle: wide and deep.
    nodes: list[dict[str, Any]] = []
    for chain in range(10):
        for step in range(10):
            after = [f"c{chain}s{step - 1}"] if step else []
            if chain and step == 5:
                after.append(f"c{chain - 1}s2")
            nodes.append({"id": f"c{chain}s{step}", "type": "noop", "after": after})
    workflow_id = await create_workflow(admin_api, {"name": "Hundred", "nodes": nodes})
    console = await open_console(browser, server)
    page = console.page
    await console.login("admin", ADMIN_PASSWORD)
    await console.go(f"/workflows/{workflow_id}")
    await page.wait_for_selector("#workflow-graph .gnode")
    boxes = await page.eval_on_selector_all(
        "#workflow-graph .gnode",
        "els => els.map(g => { const t = g.transform.baseVal.consolidate().matrix; "
        "const b = g.querySelector('.gnode-box'); return [t.e, t.f, b.width.baseVal.value, "
        "b.height.baseVal.value]; })")
    assert len(boxes) == 100
    for i, (x1, y1, w1, h1) in enumerate(boxes):
        for x2, y2, w2, h2 in boxes[i + 1:]:
            assert x1 + w1 <= x2 or x2 + w2 <= x1 or y1 + h1 <= y2 or y2 + h2 <= y1
    # Fitting keeps names readable (never below 0.6), and the buttons zoom.
    fitted = float(await page.get_attribute("#workflow-graph", "data-zoom") or "0")
    assert fitted >= 0.6
    await page.click('#workflow-graph button[aria-label="Zoom in"]')
    assert float(await page.get_attribute("#workflow-graph", "data-zoom") or "0") > fitted
    await page.click("#workflow-graph .graph-fit")
    assert float(await page.get_attribute("#workflow-graph", "data-zoom") or "0") == fitted
    assert console.errors == []
