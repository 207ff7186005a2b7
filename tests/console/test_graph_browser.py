"""The graph view of runs and workflows in a real browser (see test_browser.py for how):
live statuses, failed and skipped nodes, node panels, a 100-node graph that stays apart and
zooms, an agent's tool calls, and reruns (retry from a failed node, a whole rerun; none for
viewers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from service.settings import Settings
from tests.support.api import create_workflow, wait_for_status
from tests.support.auth import (
    ADMIN_PASSWORD,
    USER_PASSWORD,
    create_member,
    make_settings,
)
from tests.support.browser import open_console, start_in_background
from tests.support.fake_llm import MODEL, FakeLLM, Reply, chunk, text, tool_call, usage


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # The agent's model server listens on loopback, which the engine refuses by default.
    return make_settings(tmp_path, engine={"http_allow_hosts": ["127.0.0.1/32"]})


# The gate holds the run until the test answers it, so the page sees what follows scheduled.
GATED_PIPELINE: dict[str, Any] = {
    "name": "Gated pipeline",
    "nodes": [
        {"id": "prepare", "type": "transform", "params": {"value": {"x": 1}}},
        {"id": "gate", "type": "approval", "after": ["prepare"], "params": {"prompt": "go?"}},
        {"id": "wait", "type": "delay", "after": ["gate"], "params": {"ms": 3000}},
        {"id": "finish", "type": "transform", "after": ["wait"],
         "params": {"value": "{{nodes.prepare.output.x}}"}},
    ],
}
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
    workflow_id = await create_workflow(admin_api, GATED_PIPELINE)
    run_id = await start_in_background(admin_api, workflow_id)
    console = await open_console(browser, server)
    page = console.page
    await console.login("admin", ADMIN_PASSWORD)
    await console.go(f"/runs/{run_id}")
    await page.wait_for_selector(graph_node("gate", "waiting"))
    for later in ("wait", "finish"):
        assert await page.locator(graph_node(later, "scheduled")).count() == 1, later
    assert await page.locator(graph_node("prepare", "completed")).count() == 1
    # Answered elsewhere: the page follows the rest live, the delay with its progress.
    resp = await admin_api.post(f"/api/v1/workflow-runs/{run_id}/nodes/gate/resume",
                                json={"approved": True})
    assert resp.status == 200, await resp.text()
    await page.wait_for_selector(graph_node("wait", "running"))
    assert await page.locator(graph_node("finish", "scheduled")).count() == 1
    await page.wait_for_function(
        "() => Number(document.querySelector('#run-graph .gnode[data-node-id=wait]')"
        "?.dataset.progress) > 0")
    await page.wait_for_selector(graph_node("finish", "completed"))
    await console.run_status("completed")
    facts = await page.text_content(graph_node("wait") + " .gnode-facts") or ""
    assert facts.startswith("completed · attempt 1 · "), facts
    assert facts.endswith(" s"), facts
    # A click opens the node's panel with what the log holds for it.
    await page.click(graph_node("finish"))
    await page.wait_for_selector('#node-panel[data-node-id="finish"]')
    assert (await page.inner_text("#node-panel .panel-output pre.json")).strip() == "1"
    assert await page.inner_text("#node-panel .panel-attempt") == "1"
    assert console.errors == []


async def test_a_failed_node_shows_failed_and_a_branch_not_taken_skipped(
    browser: Any, server: TestServer, admin_api: TestClient
) -> None:
    workflow_id = await create_workflow(admin_api, BRANCHING_WORKFLOW)
    passed = await start_in_background(admin_api, workflow_id, inputs={"code": 200})
    failed = await start_in_background(admin_api, workflow_id, inputs={"code": 404})
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


async def test_retry_from_a_failed_node_starts_a_rerun_whose_reused_nodes_are_marked(
    browser: Any, server: TestServer, admin_api: TestClient
) -> None:
    workflow_id = await create_workflow(admin_api, BRANCHING_WORKFLOW)
    failed = await start_in_background(admin_api, workflow_id, inputs={"code": 404})
    await wait_for_status(admin_api, failed, "failed")
    console = await open_console(browser, server)
    page = console.page
    await console.login("admin", ADMIN_PASSWORD)
    await console.go(f"/runs/{failed}")
    await page.wait_for_selector(graph_node("bad", "failed"))
    await page.click(graph_node("bad"))
    await page.click("#retry-from-here")
    await page.wait_for_function(f"() => location.hash.startsWith('#/runs/') && !location.hash.includes('{failed}')")
    rerun_id = page.url.rsplit("/", 1)[-1]
    await page.wait_for_selector(graph_node("bad", "failed"))  # same inputs: it fails again
    for reused in ("fetch", "check"):
        assert await page.get_attribute(graph_node(reused), "data-reused") == "true", reused
    assert await page.get_attribute(graph_node("bad"), "data-reused") == ""
    assert "reused" in (await page.text_content(graph_node("fetch") + " .gnode-facts") or "")
    await page.click(graph_node("fetch"))
    assert "output reused from run" in await page.inner_text("#node-panel .reused-note")
    assert "from bad" in await page.inner_text("#rerun-of")
    # The chain is walked back and forth: the original lists its rerun.
    await page.click("#rerun-of a")
    await page.wait_for_selector(f'#reruns a[href="#/runs/{rerun_id}"]')
    # And a whole rerun from the Actions card.
    await page.click("#rerun-run")
    await page.wait_for_function(
        f"() => location.hash.startsWith('#/runs/') && !location.hash.includes('{failed}')"
        f" && !location.hash.includes('{rerun_id}')")
    await page.wait_for_selector("#rerun-of")
    assert "(whole run)" in await page.inner_text("#rerun-of")
    assert console.errors == []


async def test_a_viewer_sees_no_rerun_control(
    browser: Any, server: TestServer, admin_api: TestClient
) -> None:
    await create_member(admin_api, "vera", "viewer")
    workflow_id = await create_workflow(admin_api, BRANCHING_WORKFLOW)
    failed = await start_in_background(admin_api, workflow_id, inputs={"code": 404})
    await wait_for_status(admin_api, failed, "failed")
    console = await open_console(browser, server)
    page = console.page
    await console.login("vera", USER_PASSWORD)
    await console.go(f"/runs/{failed}")
    await page.wait_for_selector(graph_node("bad", "failed"))
    await page.click(graph_node("bad"))
    await page.wait_for_selector('#node-panel[data-node-id="bad"] .node-error')
    assert await page.locator("#retry-from-here, #rerun-run").count() == 0
    assert console.errors == []


async def test_an_agent_nodes_panel_lists_its_tool_calls(
    browser: Any, server: TestServer, admin_api: TestClient
) -> None:
    llm = FakeLLM()
    await llm.start()
    try:
        llm.script(
            Reply([tool_call(0, "call_a", "lookup_customer", '{"id": "c-42"}'),
                   chunk(finish="tool_calls"), usage(30, 12)]),
            Reply([*text("gold customer"), chunk(finish="stop"), usage(60, 3)]))
        workflow_id = await create_workflow(admin_api, {"name": "Agent", "nodes": [
            {"id": "classify", "type": "agent", "params": {
                "endpoint": llm.endpoint, "model": MODEL, "prompt": "Who is c-42?",
                "tools": [{"name": "lookup_customer", "run": {"type": "transform", "params": {
                    "value": {"customer": "{{args.id}}", "tier": "gold"}}}}]}}]})
        run_id = await start_in_background(admin_api, workflow_id)
        await wait_for_status(admin_api, run_id, "completed")
    finally:
        await llm.stop()
    console = await open_console(browser, server)
    page = console.page
    await console.login("admin", ADMIN_PASSWORD)
    await console.go(f"/runs/{run_id}")
    await page.click(graph_node("classify", "completed"))
    row = page.locator('#node-panel #tool-calls tr[data-call-id="call_a"]')
    cells = await row.locator("td").all_inner_texts()
    assert cells[0] == "lookup_customer", cells
    assert cells[1] == "completed", cells
    assert '"c-42"' in cells[2], cells
    assert '"tier":"gold"' in cells[3], cells
    assert console.errors == []
