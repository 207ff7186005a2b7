"""A workspace's settings in a real browser (see test_browser.py for how): its members (an
admin adds one, changes the role and removes them, each checked in the API) and its secrets
(an editor sets one, whose value never comes back to the page, and deletes it); viewers and
editors get only the controls their role allows; every member sees the retention policy in
force and what retention last pruned."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from service import keys
from tests.retention.runs import add_runs
from tests.support.auth import ADMIN_PASSWORD, USER_PASSWORD, create_member, create_user
from tests.support.browser import open_console
from tests.support.console import create_workspace

SECRET_VALUE = "sk-live-4242-never-shown"


async def members(api: TestClient, workspace_id: str) -> dict[str, str]:
    resp = await api.get(f"/api/v1/workspaces/{workspace_id}/members")
    body = await resp.json()
    assert resp.status == 200, body
    return {m["username"]: m["role"] for m in body["data"]}


async def secret_names(api: TestClient, workspace_id: str) -> list[str]:
    resp = await api.get(f"/api/v1/workspaces/{workspace_id}/secrets")
    body = await resp.json()
    assert resp.status == 200, body
    return [s["name"] for s in body["data"]]


async def test_an_admin_manages_members_and_secrets(
    browser: Any, server: TestServer, admin_api: TestClient
) -> None:
    workspace_id = await create_workspace(admin_api, "Support")
    await create_user(admin_api, "bob")
    console = await open_console(browser, server)
    page = console.page
    await console.login("admin", ADMIN_PASSWORD)
    await console.go("/workspaces")
    await page.click(f'#workspaces-table tr[data-workspace-id="{workspace_id}"] a')
    await page.wait_for_selector("#members-table")

    await page.fill("#member-username", "bob")
    await page.select_option("#member-role", "runner")
    await page.click("#add-member")
    bob = '#members-table tr[data-username="bob"]'
    await page.wait_for_selector(bob)
    assert (await members(admin_api, workspace_id))["bob"] == "runner"
    await page.select_option(f"{bob} .change-role", "editor")
    # The list is read again after the change: the row then carries the stored role.
    await page.wait_for_selector('#members-table tr[data-username="bob"][data-role="editor"]')
    assert (await members(admin_api, workspace_id))["bob"] == "editor"
    await page.click(f"{bob} .ask")
    await page.click(f"{bob} .confirm")
    await page.wait_for_selector(bob, state="detached")
    assert "bob" not in await members(admin_api, workspace_id)
    # An unknown user is the API's 404, shown; nothing changes.
    await page.fill("#member-username", "nobody-here")
    await page.click("#add-member")
    await page.wait_for_selector("#members-message .error")
    assert "not found" in (await page.inner_text("#members-message")).lower()

    await page.fill("#secret-name", "LLM_KEY")
    await page.fill("#secret-value", SECRET_VALUE)
    await page.click("#set-secret")
    await page.wait_for_selector('#secrets-table tr[data-name="LLM_KEY"]')
    assert await secret_names(admin_api, workspace_id) == ["LLM_KEY"]
    assert await page.input_value("#secret-value") == ""
    assert SECRET_VALUE not in await page.content()
    # A name the API refuses comes back as its message.
    await page.fill("#secret-name", "bad name!")
    await page.fill("#secret-value", "x")
    await page.click("#set-secret")
    await page.wait_for_selector("#secrets-message .error")
    await page.click('#secrets-table tr[data-name="LLM_KEY"] .ask')
    await page.click('#secrets-table tr[data-name="LLM_KEY"] .confirm')
    await page.wait_for_selector("#no-secrets")
    assert await secret_names(admin_api, workspace_id) == []
    assert console.errors == []


async def test_viewers_and_editors_get_only_their_controls(
    browser: Any, server: TestServer, admin_api: TestClient
) -> None:
    for name, role in (("vera", "viewer"), ("eddie", "editor")):
        await create_user(admin_api, name)
        resp = await admin_api.post(
            "/api/v1/workspaces/default/members", json={"username": name, "role": role})
        assert resp.status == 201, await resp.text()
    resp = await admin_api.put("/api/v1/workspaces/default/secrets/API_TOKEN",
                               json={"value": SECRET_VALUE})
    assert resp.status == 201, await resp.text()

    viewer = await open_console(browser, server)
    await viewer.login("vera", USER_PASSWORD)
    await viewer.go("/workspaces/default")
    await viewer.page.wait_for_selector('#members-table tr[data-username="eddie"]')
    assert await viewer.page.inner_text('#members-table tr[data-username="eddie"] .member-role') \
        == "editor"
    assert await viewer.page.locator(
        "#member-form, .change-role, #secret-form, #secrets-table").count() == 0
    assert "editors and admins" in await viewer.page.inner_text("#secrets-card")

    editor = await open_console(browser, server)
    await editor.login("eddie", USER_PASSWORD)
    await editor.go("/workspaces/default")
    await editor.page.wait_for_selector('#secrets-table tr[data-name="API_TOKEN"]')
    assert await editor.page.locator("#member-form, .change-role").count() == 0
    assert SECRET_VALUE not in await editor.page.content()
    assert await editor.page.locator("#secret-form").count() == 1
    assert viewer.errors == []
    assert editor.errors == []


async def test_a_member_sees_the_retention_policy_and_what_it_last_pruned(
    browser: Any, server: TestServer, admin_api: TestClient
) -> None:
    await create_member(admin_api, "vera", "viewer")
    viewer = await open_console(browser, server)
    await viewer.login("vera", USER_PASSWORD)
    page = viewer.page
    await viewer.go("/workspaces/default")
    await page.wait_for_selector('#retention-source[data-source="default"]')
    assert await page.inner_text('#retention-table tr[data-limit="maxRuns"] td') == "no limit"
    assert await page.inner_text("#retention-last") == "Nothing pruned yet."

    resp = await admin_api.put("/api/v1/workspaces/default/retention",
                               json={"maxAgeDays": 30, "maxRuns": 1, "maxBytes": None})
    assert resp.status == 200, await resp.text()
    await add_runs(server.app[keys.STORE], 3)
    assert (await server.app[keys.PRUNER].prune()).runs == 2
    resp = await admin_api.get("/api/v1/workspaces/default/retention")
    last = (await resp.json())["data"]["lastPruned"]

    await viewer.go("/workspaces")
    await viewer.go("/workspaces/default")
    await page.wait_for_selector('#retention-source[data-source="workspace"]')
    assert await page.inner_text('#retention-table tr[data-limit="maxRuns"] td') == "1"
    assert await page.inner_text('#retention-table tr[data-limit="maxAgeDays"] td') == "30 days"
    assert await page.inner_text('#retention-table tr[data-limit="maxBytes"] td') == "no limit"
    shown = await page.inner_text(f'#retention-last[data-position="{last["position"]}"]')
    assert "2 runs, 10 events" in shown
    assert last["archive"] in shown
    assert viewer.errors == []
