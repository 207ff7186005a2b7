"""Request bodies go through one model each: a body that does not fit answers 400 naming
every bad field, for JSON and form bodies alike, and nothing is written."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from service.limits import MAX_FIELD_ERRORS
from tests.support.api import QUICK_WORKFLOW, create_workflow


async def bad_fields(resp: aiohttp.ClientResponse) -> set[str]:
    body = await resp.json()
    assert resp.status == 400, body
    assert body["error"]["code"] == "bad_request"
    return {field["path"] for field in body["error"]["fields"]}


async def run_count(client: TestClient) -> int:
    resp = await client.get("/api/v1/workflow-runs")
    return int((await resp.json())["pagination"]["total"])


async def test_every_bad_field_of_an_execute_body_is_named(admin: TestClient) -> None:
    resp = await admin.post("/api/v1/workflow-runs/execute", json={
        "workflowId": "not-a-uuid", "inputs": 5, "envs": {"A": 1, "B": "ok"}})
    assert await bad_fields(resp) == {"workflowId", "inputs", "envs.A"}
    assert await run_count(admin) == 0


async def test_a_form_body_goes_through_the_same_model(admin: TestClient) -> None:
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    form = aiohttp.FormData()
    form.add_field("workflowId", workflow_id)
    form.add_field("inputs", "[1, 2]")  # JSON text, but not an object
    resp = await admin.post("/api/v1/workflow-runs/execute", data=form)
    assert await bad_fields(resp) == {"inputs"}
    form = aiohttp.FormData()
    form.add_field("workflowId", workflow_id)
    form.add_field("inputs", '{"n": 2}')
    resp = await admin.post("/api/v1/workflow-runs/execute", data=form)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["data"]["status"] == "completed"


@pytest.mark.parametrize(("path", "body", "fields"), [
    ("/api/v1/workflow-runs/cancel", {"runIds": ["x"], "reason": "r" * 501},
     {"runIds.0", "reason"}),
    ("/api/v1/workflow-runs/cancel", {}, {""}),
    ("/api/v1/users", {"username": "-bad", "password": "short", "isAdmin": "maybe"},
     {"username", "password", "isAdmin"}),
    ("/api/v1/workspaces", {"name": " padded "}, {"name"}),
    ("/api/v1/tokens", {"name": ["list"]}, {"name"}),
    ("/api/v1/workflow-requests", {"workflow_id": 7, "payload": "x"},
     {"workflow_id", "payload"}),
])
async def test_bad_bodies_name_their_fields(
    admin: TestClient, path: str, body: dict[str, Any], fields: set[str],
) -> None:
    assert await bad_fields(await admin.post(path, json=body)) == fields


async def test_unknown_fields_are_ignored_for_foreign_clients(admin: TestClient) -> None:
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    resp = await admin.post("/api/v1/workflow-runs/execute", json={
        "workflowId": workflow_id, "inputs": {"n": 1}, "clientTraceId": "abc"})
    assert resp.status == 200, await resp.text()


async def test_a_member_role_is_read_in_any_case(admin: TestClient) -> None:
    resp = await admin.post("/api/v1/workspaces", json={"name": "team"})
    workspace_id = (await resp.json())["data"]["id"]
    resp = await admin.post("/api/v1/users", json={"username": "bob"})
    user_id = (await resp.json())["data"]["id"]
    resp = await admin.post(f"/api/v1/workspaces/{workspace_id}/members",
                            json={"userId": user_id, "role": "Editor"})
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["data"]["role"] == "editor"
    resp = await admin.post(f"/api/v1/workspaces/{workspace_id}/members",
                            json={"userId": user_id, "username": "bob", "role": "viewer"})
    assert await bad_fields(resp) == {""}


async def test_a_query_string_goes_through_its_model_too(admin: TestClient) -> None:
    resp = await admin.get("/api/v1/workflow-runs?limit=500&status=nope&workflowId=x&page=2")
    body = await resp.json()
    assert resp.status == 400, body
    assert body["error"]["message"].startswith("invalid query string")
    assert {f["path"] for f in body["error"]["fields"]} == {"limit", "status", "workflowId"}
    resp = await admin.get("/api/v1/workflow-runs?status=pending&limit=&search=")
    assert resp.status == 200, await resp.text()  # empty values are the defaults


async def test_is_admin_takes_booleans_and_form_words_only(admin: TestClient) -> None:
    for value in (1, "yes", "y"):
        resp = await admin.post("/api/v1/users", json={"username": f"u{value}",
                                                       "isAdmin": value})
        assert await bad_fields(resp) == {"isAdmin"}, value
    resp = await admin.post("/api/v1/users", json={"username": "plain", "isAdmin": None})
    assert resp.status == 201
    assert (await resp.json())["data"]["isAdmin"] is False
    resp = await admin.post("/api/v1/users", json={"username": "boss", "isAdmin": "on"})
    assert resp.status == 201
    assert (await resp.json())["data"]["isAdmin"] is True


async def test_a_login_labelled_text_plain_is_refused(anon: TestClient) -> None:
    resp = await anon.post("/api/v1/auth/login", data=b'{"username": "admin", "password": "x"}',
                           headers={"Content-Type": "text/plain"})
    body = await resp.json()
    assert resp.status == 400
    assert "expected a JSON or form body" in body["error"]["message"]


async def test_a_chat_title_of_null_is_an_empty_title(admin: TestClient) -> None:
    resp = await admin.post("/api/chats", json={"title": None})
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["data"]["title"] == ""


async def test_bad_fields_are_capped_with_a_count(admin: TestClient) -> None:
    envs = {f"K{i}": i for i in range(300)}
    resp = await admin.post("/api/v1/workflow-runs/execute", json={
        "workflowId": "00000000-0000-0000-0000-000000000000", "envs": envs})
    body = await resp.json()
    assert resp.status == 400
    assert len(body["error"]["fields"]) == MAX_FIELD_ERRORS + 1
    assert body["error"]["fields"][-1]["message"] == f"and {300 - MAX_FIELD_ERRORS} more"
