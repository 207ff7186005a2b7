"""Workspace secrets: editors and admins store them, runs read them as {{secrets.NAME}},
and a value never comes back in an answer, a stream, the log, a log line or the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from service.settings import Settings
from tests.support.auth import (
    ADMIN_PASSWORD,
    USER_PASSWORD,
    ClientFactory,
    create_user,
    login,
    make_settings,
)
from tests.support.engine import CountingServer

SECRET = "sk-live-4242-never-to-be-seen"
OTHER_SECRET = "sk-other-workspace-7777"


@pytest.fixture
def auth_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, engine={"http_allow_hosts": ["127.0.0.1"]})


async def admin_client(new_client: ClientFactory) -> TestClient:
    client = await new_client()
    await login(client, "admin", ADMIN_PASSWORD)
    return client


async def team(new_client: ClientFactory) -> tuple[str, dict[str, TestClient]]:
    """A workspace with a member of each role, an outsider and an anonymous client."""
    admin = await admin_client(new_client)
    resp = await admin.post("/api/v1/workspaces", json={"name": "team"})
    assert resp.status == 201, await resp.text()
    workspace = (await resp.json())["data"]["id"]
    clients = {"admin": admin, "anon": await new_client()}
    for name in ("other", "viewer", "runner", "editor"):
        await create_user(admin, name)
        if name != "other":
            resp = await admin.post(f"/api/v1/workspaces/{workspace}/members",
                                    json={"username": name, "role": name})
            assert resp.status == 201, await resp.text()
        client = await new_client()
        await login(client, name, USER_PASSWORD)
        clients[name] = client
    return workspace, clients


async def status_and_text(client: TestClient, method: str, path: str,
                          body: Any = None) -> tuple[int, str]:
    resp = await client.request(method, path, json=body)
    return resp.status, await resp.text()


ROLE_STATUSES = {
    # actor: (PUT, GET, DELETE)
    "anon": (401, 401, 401), "other": (404, 404, 404), "viewer": (403, 403, 403),
    "runner": (403, 403, 403),
}


async def test_only_editors_and_admins_of_the_workspace_reach_its_secrets(
    new_client: ClientFactory,
) -> None:
    workspace, clients = await team(new_client)
    path = f"/api/v1/workspaces/{workspace}/secrets"
    status, text = await status_and_text(clients["editor"], "PUT", f"{path}/API_KEY",
                                         {"value": SECRET})
    assert status == 201
    assert SECRET not in text
    assert set(json.loads(text)["data"]) == {"name", "updatedAt"}
    for actor, (put, get, delete) in ROLE_STATUSES.items():
        client = clients[actor]
        assert (await status_and_text(client, "PUT", f"{path}/API_KEY",
                                      {"value": "taken-over"}))[0] == put, actor
        status, text = await status_and_text(client, "GET", path)
        assert status == get, actor
        assert "API_KEY" not in text, actor
        assert SECRET not in text, actor
        assert (await status_and_text(client, "DELETE", f"{path}/API_KEY", {}))[0] == delete
    # Nothing of the refused calls changed the secret, and no answer names its value.
    for actor in ("editor", "admin"):
        status, text = await status_and_text(clients[actor], "GET", path)
        assert status == 200
        assert SECRET not in text
        assert [s["name"] for s in json.loads(text)["data"]] == ["API_KEY"]
    status, text = await status_and_text(clients["admin"], "PUT", f"{path}/API_KEY",
                                         {"value": SECRET + "-2"})
    assert status == 200
    assert SECRET not in text
    assert (await status_and_text(clients["admin"], "DELETE", f"{path}/API_KEY", {}))[0] == 200
    assert (await status_and_text(clients["admin"], "DELETE", f"{path}/API_KEY", {}))[0] == 404
    assert json.loads((await status_and_text(clients["editor"], "GET", path))[1])["data"] == []


@pytest.mark.parametrize(("name", "body"), [
    ("API_KEY", {"value": ""}),
    ("API_KEY", {"value": 42}),
    ("API_KEY", {}),
    ("API_KEY", {"value": "x" * 16385}),
    ("has-dash", {"value": SECRET}),
    ("9STARTS_WITH_DIGIT", {"value": SECRET}),
    ("A" * 65, {"value": SECRET}),
])
async def test_a_bad_name_or_value_is_refused_and_nothing_is_stored(
    new_client: ClientFactory, name: str, body: dict[str, Any],
) -> None:
    admin = await admin_client(new_client)
    path = "/api/v1/workspaces/default/secrets"
    resp = await admin.put(f"{path}/{name}", json=body)
    text = await resp.text()
    assert resp.status == 400, text
    assert json.loads(text)["error"]["code"] == "bad_request"
    assert SECRET not in text
    assert (await (await admin.get(path)).json())["data"] == []


def raw_files(directory: Path) -> bytes:
    """Every byte of the data directory: the database, its WAL, the key files."""
    return b"".join(p.read_bytes() for p in directory.rglob("*") if p.is_file())


async def test_a_secret_in_a_header_reaches_the_server_and_is_recorded_nowhere(
    new_client: ClientFactory, counting_server: CountingServer, tmp_path: Path,
) -> None:
    admin = await admin_client(new_client)
    resp = await admin.put("/api/v1/workspaces/default/secrets/API_KEY", json={"value": SECRET})
    assert resp.status == 201
    definition = {"name": "uses a secret", "nodes": [
        {"id": "call", "type": "http_request", "params": {
            "method": "POST", "url": f"{counting_server.base}/echo",
            "headers": {"Authorization": "Bearer {{secrets.API_KEY}}"},
            "body": {"key": "{{secrets.API_KEY}}"}}},
        {"id": "copy", "type": "transform", "after": ["call"],
         "params": {"value": {"raw": "{{secrets.API_KEY}}",
                              "echoed": "{{nodes.call.output.body}}"}}},
        {"id": "boom", "type": "fail", "after": ["copy"],
         "params": {"message": "refused key {{secrets.API_KEY}}"}}]}
    resp = await admin.post("/api/v1/workflows", json=definition)
    assert resp.status == 201, await resp.text()
    workflow_id = (await resp.json())["data"]["id"]
    seen: list[str] = []
    with capture_logs() as logs:
        resp = await admin.post("/api/v1/workflow-runs/execute/stream",
                                json={"workflowId": workflow_id})
        seen.append(await resp.text())  # the stream ends with the run
        run_id = resp.headers["X-Workflow-Run-Id"]
        for path in (f"/api/v1/workflow-runs/{run_id}", f"/api/v1/workflow-runs/{run_id}/events",
                     f"/api/v1/workflow-runs/{run_id}/stream", "/api/v1/events",
                     f"/api/v1/workflow-requests/{run_id}/listen"):
            resp = await admin.get(path)
            assert resp.status == 200, path
            seen.append(await resp.text())
    # The server really received the value, in the header and in the body...
    _, headers, body = counting_server.requests[0]
    assert headers["Authorization"] == f"Bearer {SECRET}"
    assert SECRET.encode() in body
    # ...and what the run recorded has it replaced everywhere.
    detail = json.loads(seen[1])["data"]
    assert detail["status"] == "failed"
    assert "refused key ***" in seen[2]
    assert '"raw":"***"' in seen[2].replace(" ", "")
    for text in seen:
        assert SECRET not in text
    assert logs
    assert all(SECRET not in repr(line) for line in logs)
    await admin.close()
    assert SECRET.encode() not in raw_files(tmp_path)


async def test_a_run_reads_the_secrets_of_its_own_workspace_only(
    new_client: ClientFactory, counting_server: CountingServer,
) -> None:
    workspace, clients = await team(new_client)
    editor, admin = clients["editor"], clients["admin"]
    resp = await admin.put("/api/v1/workspaces/default/secrets/API_KEY",
                           json={"value": OTHER_SECRET})
    assert resp.status == 201
    resp = await editor.put(f"/api/v1/workspaces/{workspace}/secrets/API_KEY",
                            json={"value": SECRET})
    assert resp.status == 201
    definition = {"name": "team call", "workspaceId": workspace, "nodes": [
        {"id": "call", "type": "http_request", "params": {
            "url": f"{counting_server.base}/team",
            "headers": {"X-Key": "{{secrets.API_KEY}}", "X-Missing": "[{{secrets.NOPE}}]"}}}]}
    resp = await editor.post("/api/v1/workflows", json=definition)
    assert resp.status == 201, await resp.text()
    workflow_id = (await resp.json())["data"]["id"]
    resp = await clients["runner"].post("/api/v1/workflow-runs/execute",
                                        json={"workflowId": workflow_id})
    text = await resp.text()
    assert resp.status == 200, text
    assert SECRET not in text
    assert OTHER_SECRET not in text
    _, headers, _ = counting_server.requests[0]
    assert headers["X-Key"] == SECRET
    assert headers["X-Missing"] == "[]"
