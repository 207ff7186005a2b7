"""Editing workflows in the console, in a real browser (see test_browser.py for how): the
draft is checked as it is typed (the API's JSON Schema, then the graph rules), what the API
still refuses is shown with the node ids it names, a save makes a new version, two versions
can be compared, and only editors get any of it."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from tests.support.api import QUICK_WORKFLOW, create_workflow
from tests.support.auth import ADMIN_PASSWORD, USER_PASSWORD, create_member
from tests.support.browser import Console, open_console

CYCLE: dict[str, Any] = {
    "name": "Goes round",
    "nodes": [
        {"id": "start", "type": "noop"},
        {"id": "a", "type": "noop", "after": ["start", "b"]},
        {"id": "b", "type": "noop", "after": ["a"]},
    ],
}


async def problems(console: Console) -> list[str]:
    await console.page.wait_for_function(
        "() => !document.querySelector('#editor-status')?.textContent.startsWith('Checking')")
    return [text.strip() for text in
            await console.page.locator("#editor-problems li").all_inner_texts()]


async def workflow_names(api: TestClient) -> list[str]:
    resp = await api.get("/api/v1/workflows")
    assert resp.status == 200
    return [wf["name"] for wf in (await resp.json())["data"]]


async def test_a_definition_with_a_cycle_is_refused_with_the_node_ids_named(
    browser: Any, server: TestServer, admin_api: TestClient
) -> None:
    console = await open_console(browser, server)
    page = console.page
    await console.login("admin", ADMIN_PASSWORD)
    await console.go("/workflows")
    await page.click("#new-workflow")
    await page.wait_for_selector("#definition-editor")
    assert await problems(console) == []  # the starter draft is valid

    await page.fill("#definition-editor", json.dumps(CYCLE, indent=2))
    found = await problems(console)
    assert found == ["a: node is part of a cycle", "b: node is part of a cycle"], found
    assert await page.is_disabled("#save-workflow")
    # The preview draws the draft and outlines the nodes named.
    await page.wait_for_selector('#draft-graph .gnode.problem[data-node-id="a"]')
    assert await page.locator("#draft-graph .gnode.problem").count() == 2

    # What the page cannot check (templates) the API refuses on save, naming the node.
    ghostly = {"name": "Reads a ghost", "nodes": [
        {"id": "c", "type": "transform", "params": {"value": "{{nodes.ghost.output}}"}}]}
    await page.fill("#definition-editor", json.dumps(ghostly))
    assert await problems(console) == []
    await page.click("#save-workflow")
    await page.wait_for_selector("#save-problem .error")
    assert await problems(console) == ["c: template reads unknown node 'ghost'"]
    assert await workflow_names(admin_api) == []  # nothing was stored

    await page.fill("#definition-editor", json.dumps(QUICK_WORKFLOW))
    assert await problems(console) == []
    await page.click("#save-workflow")
    await page.wait_for_url("**/#/workflows/*?version=1")
    await page.wait_for_selector('#workflow-graph .gnode[data-node-id="b"]')
    assert await workflow_names(admin_api) == [QUICK_WORKFLOW["name"]]
    assert console.errors == []


async def test_an_edit_is_checked_as_typed_saved_as_a_new_version_and_diffed(
    browser: Any, server: TestServer, admin_api: TestClient
) -> None:
    workflow_id = await create_workflow(admin_api, QUICK_WORKFLOW)
    console = await open_console(browser, server)
    page = console.page
    await console.login("admin", ADMIN_PASSWORD)
    await console.go(f"/workflows/{workflow_id}")
    await page.click("#edit-workflow")
    await page.wait_for_selector("#definition-editor")
    assert await problems(console) == []
    assert await page.is_disabled("#save-workflow")  # nothing changed yet

    draft = json.loads(await page.input_value("#definition-editor"))
    draft["nodes"].append({"id": "pause", "type": "delay", "after": ["b"], "params": {"ms": "soon"}})
    await page.fill("#definition-editor", json.dumps(draft, indent=2))
    assert await problems(console) == [
        "pause · nodes[2].params.ms: must be integer or a template such as {{inputs.x}}"]
    await page.fill("#definition-editor", "{\"name\": ")
    assert (await problems(console))[0].startswith("Not valid JSON")
    draft["nodes"][2]["params"]["ms"] = 5
    draft["nodes"].append({"id": "x", "type": "noop", "after": ["nowhere"]})
    await page.fill("#definition-editor", json.dumps(draft, indent=2))
    assert await problems(console) == ["x: after names unknown node 'nowhere'"]
    draft["nodes"].pop()
    await page.fill("#definition-editor", json.dumps(draft, indent=2))
    assert await problems(console) == []
    assert await page.inner_text("#save-workflow") == "Save as version 2"
    await page.click("#save-workflow")
    await page.wait_for_url("**/#/workflows/*?version=2")
    await page.wait_for_selector('#workflow-graph .gnode[data-node-id="pause"]')
    resp = await admin_api.get(f"/api/v1/workflows/{workflow_id}")
    assert (await resp.json())["data"]["definition"]["nodes"][2]["params"] == {"ms": 5}

    await page.click("#compare-versions")
    await page.wait_for_selector("#version-diff")
    added = await page.locator("#version-diff .diff-add").all_inner_texts()
    assert any('"id": "pause"' in line for line in added), added
    assert await page.locator("#version-diff .diff-del").count() == 0
    assert await page.inner_text("#diff-summary") == f"{len(added)} lines added, 0 removed"
    # Backwards, the same lines are removed.
    await page.select_option("#diff-from", "2")
    await page.select_option("#diff-to", "1")
    await page.click("#diff-form button[type=submit]")
    await page.wait_for_function(
        "() => document.querySelector('#diff-summary')?.textContent.endsWith(' removed')"
        " && document.querySelectorAll('#version-diff .diff-add').length === 0")
    assert await page.locator("#version-diff .diff-del").count() == len(added)
    assert console.errors == []


async def test_a_viewer_sees_no_edit_control(
    browser: Any, server: TestServer, admin_api: TestClient
) -> None:
    await create_member(admin_api, "vera", "viewer")
    workflow_id = await create_workflow(admin_api, QUICK_WORKFLOW)
    console = await open_console(browser, server)
    page = console.page
    await console.login("vera", USER_PASSWORD)
    await console.go("/workflows")
    await page.wait_for_selector(f'#workflows-table tr[data-workflow-id="{workflow_id}"]')
    assert await page.locator("#new-workflow").count() == 0
    await console.go(f"/workflows/{workflow_id}")
    await page.wait_for_selector('#workflow-graph .gnode[data-node-id="a"]')
    assert await page.locator("#edit-workflow").count() == 0
    # Nor does the editor's address give her one.
    await console.go(f"/workflows/{workflow_id}/edit")
    await page.wait_for_selector("#editor-refused")
    assert await page.locator("#save-workflow, #definition-editor").count() == 0
    assert console.errors == []
