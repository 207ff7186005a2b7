"""The retention API: a workspace's policy (members read it, admins set and drop it), erasure
of one finished run by a global admin, and 410 `pruned` for a run whose data went, told
only to those who could see the run."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from service import keys
from tests.support.api import (
    APPROVAL_WORKFLOW,
    QUICK_WORKFLOW,
    create_workflow,
    execute,
    start_waiting_run,
)
from tests.support.auth import ClientFactory, user_client

POLICY = "/api/v1/workspaces/default/retention"
RUNS = "/api/v1/workflow-runs"
# A cookie-authenticated write must say JSON even without a body (the CSRF rule).
JSON = {"Content-Type": "application/json"}


async def member(new_client: ClientFactory, admin: TestClient, name: str,
                 role: str | None) -> TestClient:
    client, _ = await user_client(new_client, admin, name)
    if role is not None:
        resp = await admin.post("/api/v1/workspaces/default/members",
                                json={"username": name, "role": role})
        assert resp.status in (200, 201), await resp.text()
    return client


async def answer(resp: Any, status: int) -> dict[str, Any]:
    body: dict[str, Any] = await resp.json()
    assert resp.status == status, body
    return body


async def test_a_workspace_policy_replaces_the_default_until_deleted(admin: TestClient) -> None:
    shown = (await answer(await admin.get(POLICY), 200))["data"]
    assert shown == {"workspaceId": "default", "source": "default", "maxAgeDays": None,
                     "maxRuns": None, "maxBytes": None, "lastPruned": None}
    put = await admin.put(POLICY, json={"maxAgeDays": 30, "maxRuns": 100000, "maxBytes": None})
    assert (await answer(put, 200))["data"] == {
        "workspaceId": "default", "source": "workspace", "maxAgeDays": 30, "maxRuns": 100000,
        "maxBytes": None, "lastPruned": None}
    assert (await answer(await admin.get(POLICY), 200))["data"]["source"] == "workspace"
    gone = (await answer(await admin.delete(POLICY, headers=JSON), 200))["data"]
    assert (gone["source"], gone["maxRuns"]) == ("default", None)


@pytest.mark.parametrize("body", [
    {"maxRuns": 0}, {"maxRuns": -1}, {"maxRuns": 1.5}, {"maxRuns": "5"}, {"maxRuns": True},
    {"maxAgeDays": 0}, {"maxAgeDays": -2}, {"maxAgeDays": "a"}, {"maxBytes": 0},
    {"maxBytes": 2**63}, [], "x"])
async def test_a_bad_policy_is_refused_naming_the_field(admin: TestClient, body: Any) -> None:
    error = (await answer(await admin.put(POLICY, json=body), 400))["error"]
    assert error["code"] == "bad_request"
    assert (await answer(await admin.get(POLICY), 200))["data"]["source"] == "default"


async def test_members_read_the_policy_and_only_admins_change_it(
        new_client: ClientFactory, admin: TestClient) -> None:
    viewer = await member(new_client, admin, "viewer1", "viewer")
    outsider = await member(new_client, admin, "outsider1", None)
    assert (await answer(await viewer.get(POLICY), 200))["data"]["source"] == "default"
    await answer(await viewer.put(POLICY, json={"maxRuns": 5}), 403)
    await answer(await viewer.delete(POLICY, headers=JSON), 403)
    await answer(await outsider.get(POLICY), 404)
    await answer(await outsider.put(POLICY, json={"maxRuns": 5}), 404)
    await answer(await admin.get("/api/v1/workspaces/nope!/retention"), 400)


async def test_get_says_what_retention_last_pruned(admin: TestClient) -> None:
    workflow = await create_workflow(admin, QUICK_WORKFLOW)
    runs = [await execute(admin, workflow, n=i) for i in range(3)]
    await answer(await admin.put(POLICY, json={"maxRuns": 1}), 200)
    app = admin.server.app
    assert app is not None
    report = await app[keys.PRUNER].prune()
    last = (await answer(await admin.get(POLICY), 200))["data"]["lastPruned"]
    assert last["runs"] == report.runs == 2
    assert last["events"] == report.events
    assert last["archive"] == report.archives[0]
    # A pruned run answers 410 with when, how and where its events went.
    error = (await answer(await admin.get(f"{RUNS}/{runs[0]['id']}"), 410))["error"]
    assert error["code"] == "pruned"
    details = error["details"]
    assert (details["kind"], details["archive"]) == ("retention", report.archives[0])
    assert details["policy"]["maxRuns"] == 1
    assert details["prunedAt"] == last["prunedAt"]
    await answer(await admin.get(f"{RUNS}/{runs[2]['id']}"), 200)


async def test_erase_removes_one_finished_run_for_global_admins(
        new_client: ClientFactory, admin: TestClient) -> None:
    workflow = await create_workflow(admin, QUICK_WORKFLOW)
    run = await execute(admin, workflow, n=1)
    erase = f"{RUNS}/{run['id']}/erase"
    workspace_admin = await member(new_client, admin, "wsadmin", "admin")
    await answer(await workspace_admin.post(erase, json={"reason": "gdpr"}), 403)
    await answer(await admin.post(erase, json={}), 400)
    await answer(await admin.post(erase, json={"reason": ""}), 400)
    await answer(await admin.post(f"{RUNS}/00000000-0000-4000-8000-000000000000/erase",
                                  json={"reason": "x"}), 404)
    erased = (await answer(await admin.post(erase, json={"reason": "gdpr"}), 200))["data"]
    assert erased["runs"] == [run["id"]]
    assert erased["events"] > 0
    again = (await answer(await admin.post(erase, json={"reason": "x"}), 410))["error"]
    assert again["details"]["kind"] == "erasure"
    assert (again["details"]["by"], again["details"]["reason"]) == ("admin", "gdpr")
    assert again["details"]["archive"] is None
    for path in (f"{RUNS}/{run['id']}", f"{RUNS}/{run['id']}/events",
                 f"{RUNS}/{run['id']}/stream"):
        assert (await answer(await admin.get(path), 410))["error"]["code"] == "pruned"


async def test_an_unfinished_run_is_not_erased(admin: TestClient) -> None:
    workflow = await create_workflow(admin, APPROVAL_WORKFLOW)
    run_id = await start_waiting_run(admin, workflow, x=1)
    await answer(await admin.post(f"{RUNS}/{run_id}/erase", json={"reason": "x"}), 409)
    await answer(await admin.get(f"{RUNS}/{run_id}"), 200)


async def test_a_caller_who_could_not_see_the_run_gets_404_not_410(
        new_client: ClientFactory, admin: TestClient) -> None:
    workflow = await create_workflow(admin, QUICK_WORKFLOW)
    run = await execute(admin, workflow, n=1)
    viewer = await member(new_client, admin, "viewer2", "viewer")
    outsider = await member(new_client, admin, "outsider2", None)
    await answer(await admin.post(f"{RUNS}/{run['id']}/erase", json={"reason": "x"}), 200)
    assert (await answer(await viewer.get(f"{RUNS}/{run['id']}"), 410))["error"]["code"] \
        == "pruned"
    for path in (f"{RUNS}/{run['id']}", f"{RUNS}/{run['id']}/stream",
                 f"{RUNS}/{run['id']}/events"):
        assert (await answer(await outsider.get(path), 404))["error"]["code"] == "not_found"


async def test_a_pruned_chat_run_is_410_only_in_its_own_chat(admin: TestClient) -> None:
    workflow = await create_workflow(admin, QUICK_WORKFLOW)
    chat = (await answer(await admin.post("/api/chats", json={"title": "c"}), 201))["data"]
    other = (await answer(await admin.post("/api/chats", json={"title": "d"}), 201))["data"]
    run = (await answer(await admin.post(f"/api/chats/{chat['id']}/workflow-runs", json={
        "workflowId": workflow, "inputs": {"n": 1}}), 201))["data"]
    app = admin.server.app
    assert app is not None
    await app[keys.ENGINE].wait(run["id"])
    await answer(await admin.post(f"{RUNS}/{run['id']}/erase", json={"reason": "x"}), 200)
    await answer(await admin.get(
        f"/api/chats/{chat['id']}/workflow-runs/{run['id']}/stream"), 410)
    await answer(await admin.get(
        f"/api/chats/{other['id']}/workflow-runs/{run['id']}/stream"), 404)
