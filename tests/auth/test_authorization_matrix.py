"""Every route × {anonymous, other user, viewer, runner, editor, admin}: status and no leaks.

The objects live in a workspace "team"; `other` is a user with no membership there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from service import keys
from tests.support.api import APPROVAL_WORKFLOW, QUICK_WORKFLOW
from tests.support.auth import (
    ADMIN_PASSWORD,
    USER_PASSWORD,
    ClientFactory,
    create_user,
    login,
)

ACTORS = ("anon", "other", "viewer", "runner", "editor", "admin")


@dataclass
class World:
    clients: dict[str, TestClient]
    workspace: str
    workflow: str  # approval workflow
    quick: str  # quick workflow
    waiting_run: str
    finished_run: str
    chat: str  # owned by runner
    victim: str  # a viewer of the workspace only the admin may remove, then delete
    schedule: str  # of the approval workflow, yearly
    webhook: str  # of the approval workflow, unsigned


@pytest.fixture
async def world(new_client: ClientFactory) -> World:
    admin = await new_client()
    await login(admin, "admin", ADMIN_PASSWORD)
    resp = await admin.post("/api/v1/workspaces", json={"name": "team"})
    assert resp.status == 201, await resp.text()
    workspace = (await resp.json())["data"]["id"]
    clients: dict[str, TestClient] = {"anon": await new_client(), "admin": admin}
    victim = (await create_user(admin, "victim"))["id"]
    resp = await admin.post(f"/api/v1/workspaces/{workspace}/members",
                            json={"userId": victim, "role": "viewer"})
    assert resp.status == 201, await resp.text()
    for name in ("other", "viewer", "runner", "editor"):
        await create_user(admin, name)
        if name != "other":
            resp = await admin.post(f"/api/v1/workspaces/{workspace}/members",
                                    json={"username": name, "role": name})
            assert resp.status in (200, 201), await resp.text()
        client = await new_client()
        await login(client, name, USER_PASSWORD)
        clients[name] = client

    async def workflow(definition: dict[str, Any]) -> str:
        resp = await admin.post("/api/v1/workflows", json={**definition, "workspaceId": workspace})
        assert resp.status == 201, await resp.text()
        return str((await resp.json())["data"]["id"])

    approval, quick = await workflow(APPROVAL_WORKFLOW), await workflow(QUICK_WORKFLOW)
    engine = admin.server.app[keys.ENGINE]  # type: ignore[index]
    waiting = await engine.start_run(approval, workspace, {"x": 1}, {}, "setup")
    finished = await engine.start_run(quick, workspace, {"n": 1}, {}, "setup")
    await engine.wait(finished)
    resp = await clients["runner"].post("/api/chats", json={"title": "mine"})
    assert resp.status == 201, await resp.text()
    chat = (await resp.json())["data"]["id"]
    resp = await admin.post(f"/api/v1/workflows/{approval}/schedules",
                            json={"cron": "0 0 1 1 *"})
    assert resp.status == 201, await resp.text()
    schedule = (await resp.json())["data"]["id"]
    resp = await admin.post(f"/api/v1/workflows/{approval}/webhooks", json={"auth": "none"})
    assert resp.status == 201, await resp.text()
    webhook = (await resp.json())["data"]["id"]
    return World(clients, workspace, approval, quick, waiting, finished, chat, victim,
                 schedule, webhook)


def routes(w: World) -> list[tuple[str, str, Any, tuple[int, ...]]]:
    """(method, path, json body, expected status per actor in ACTORS order)."""
    read = (401, 404, 200, 200, 200, 200)
    run_it = (401, 404, 403, 200, 200, 200)
    admin_only = (401, 403, 403, 403, 403, 200)
    run, done, wf = w.waiting_run, w.finished_run, w.workflow
    return [
        ("GET", "/api/v1/auth/me", None, (401, 200, 200, 200, 200, 200)),
        ("GET", "/api/v1/users", None, admin_only),
        ("POST", "/api/v1/users", {"username": "newbie", "password": "long-enough-pw"},
         (401, 403, 403, 403, 403, 201)),
        ("GET", "/api/v1/tokens", None, (401, 200, 200, 200, 200, 200)),
        ("GET", "/api/v1/workspaces", None, (401, 200, 200, 200, 200, 200)),
        # Adds the user created two rows up, so that `other` stays an outsider.
        ("POST", f"/api/v1/workspaces/{w.workspace}/members",
         {"username": "newbie", "role": "viewer"}, (401, 404, 403, 403, 403, 201)),
        ("GET", f"/api/v1/workspaces/{w.workspace}/members", None, read),
        # Secrets are the editors' and admins': the editor creates, the admin replaces.
        ("PUT", f"/api/v1/workspaces/{w.workspace}/secrets/MATRIX", {"value": "matrix-value"},
         (401, 404, 403, 403, 201, 200)),
        ("GET", f"/api/v1/workspaces/{w.workspace}/secrets", None,
         (401, 404, 403, 403, 200, 200)),
        ("DELETE", f"/api/v1/workspaces/{w.workspace}/secrets/MATRIX", {},
         (401, 404, 403, 403, 200, 404)),
        ("DELETE", f"/api/v1/workspaces/{w.workspace}/members/{w.victim}", {},
         (401, 404, 403, 403, 403, 200)),
        # A wrong current password: refused for everyone, and nothing changes.
        ("POST", "/api/v1/auth/password",
         {"currentPassword": "wrong-password", "newPassword": "long-enough-pw"},
         (401, 403, 403, 403, 403, 403)),
        ("GET", f"/api/v1/workflows?workspaceId={w.workspace}", None, read),
        ("GET", f"/api/v1/workflows/{wf}", None, read),
        ("GET", f"/api/v1/workflows/{wf}/versions/1", None, read),
        ("PUT", f"/api/v1/workflows/{wf}", APPROVAL_WORKFLOW, (401, 404, 403, 403, 200, 200)),
        ("POST", "/api/v1/workflows", {**QUICK_WORKFLOW, "workspaceId": w.workspace},
         (401, 404, 403, 403, 201, 201)),
        # Schedules are the workflow's editors'; viewers read them. The editor deletes.
        ("POST", f"/api/v1/workflows/{w.quick}/schedules", {"cron": "0 0 1 1 *"},
         (401, 404, 403, 403, 201, 201)),
        ("GET", f"/api/v1/workflows/{wf}/schedules", None, read),
        ("GET", f"/api/v1/workflows/{wf}/schedules/{w.schedule}", None, read),
        ("PATCH", f"/api/v1/workflows/{wf}/schedules/{w.schedule}", {"enabled": False},
         (401, 404, 403, 403, 200, 200)),
        ("DELETE", f"/api/v1/workflows/{wf}/schedules/{w.schedule}", {},
         (401, 404, 403, 403, 200, 404)),
        # Webhooks likewise; their deliveries are the editors'. The editor deletes.
        ("POST", f"/api/v1/workflows/{w.quick}/webhooks", {"auth": "none"},
         (401, 404, 403, 403, 201, 201)),
        ("GET", f"/api/v1/workflows/{wf}/webhooks", None, read),
        ("GET", f"/api/v1/workflows/{wf}/webhooks/{w.webhook}", None, read),
        ("PATCH", f"/api/v1/workflows/{wf}/webhooks/{w.webhook}", {"enabled": True},
         (401, 404, 403, 403, 200, 200)),
        ("GET", f"/api/v1/workflows/{wf}/webhooks/{w.webhook}/deliveries", None,
         (401, 404, 403, 403, 200, 200)),
        # A delivery is judged by the webhook's own auth (here none), whoever sends it:
        # the sender's session or lack of one changes nothing.
        ("POST", f"/hooks/{w.webhook}", {"x": 1}, (202,) * 6),
        ("GET", f"/hooks/{w.webhook}", None, (405,) * 6),
        ("DELETE", f"/api/v1/workflows/{wf}/webhooks/{w.webhook}", {},
         (401, 404, 403, 403, 200, 404)),
        ("POST", "/api/v1/workflow-runs/execute", {"workflowId": w.quick}, run_it),
        ("POST", "/api/v1/workflow-runs/execute/stream", {"workflowId": w.quick}, run_it),
        ("GET", f"/api/v1/workflow-runs/{run}", None, read),
        ("GET", f"/api/v1/workflow-runs/{run}/events", None, read),
        ("GET", f"/api/v1/workflow-runs/{done}/stream", None, read),
        ("GET", f"/api/v1/workflow-runs/{done}/stream?lastEventId=1", None, read),
        ("GET", f"/api/v1/workflow-runs/dashboard/{wf}", None, read),
        ("POST", f"/api/v1/workflow-runs/{run}/nodes/approve/resume", {"approved": "maybe"},
         (401, 404, 403, 400, 400, 400)),
        ("POST", "/api/v1/workflow-runs/cancel", {"runIds": [done]},
         (401, 200, 200, 200, 200, 200)),
        ("GET", "/api/v1/workflow-runs", None, (401, 200, 200, 200, 200, 200)),
        ("GET", "/api/v1/events", None, admin_only),
        ("GET", "/api/v1/events/stream", None, admin_only),
        ("POST", "/api/v1/audit/checkpoints", {}, (401, 403, 403, 403, 403, 201)),
        ("GET", "/api/v1/audit/checkpoints", None, admin_only),
        ("GET", "/metrics", None, admin_only),
        ("GET", f"/api/v1/workflow-requests/{done}/listen", None, read),
        ("POST", "/api/v1/workflow-requests", {"workflow_id": w.quick}, (401, 404, 403, 201, 201, 201)),
        ("POST", f"/api/workflows/{w.quick}/execute", {}, run_it),
        ("GET", f"/api/chats/{w.chat}/workflow-runs", None, (401, 403, 403, 200, 403, 403)),
        ("POST", f"/api/chats/{w.chat}/workflow-runs", {"workflowId": w.quick},
         (401, 403, 403, 201, 403, 403)),
        # A cookie write needs a JSON content type even without a body (CSRF rule).
        ("DELETE", f"/api/v1/users/{w.victim}", {}, (401, 403, 403, 403, 403, 200)),
        ("GET", "/api/v1/openapi.json", None, (200,) * 6),
        ("GET", "/healthz", None, (200,) * 6),
    ]


async def call(client: TestClient, method: str, path: str, body: Any) -> tuple[int, bytes]:
    resp = await client.request(method, path, json=body) if body is not None else \
        await client.request(method, path)
    # Streams of live runs never end by themselves: the status line is what we check.
    if resp.headers.get("Content-Type", "").startswith("text/event-stream") and "events/stream" in path:
        resp.close()
        return resp.status, b""
    return resp.status, await resp.read()


async def test_every_route_answers_each_actor_as_the_contract_says(world: World) -> None:
    failures = []
    for method, path, body, expected in routes(world):
        for actor, status in zip(ACTORS, expected, strict=True):
            got, raw = await call(world.clients[actor], method, path, body)
            if got != status:
                failures.append(f"{actor:6} {method} {path}: {got} != {status} {raw[:120]!r}")
            if got >= 400:
                assert raw.startswith(b'{"error":'), (actor, path, raw[:200])
    assert not failures, "\n".join(failures)


async def test_cancel_outcomes_do_not_reveal_runs_to_outsiders(world: World) -> None:
    expected = {"other": "not_found", "viewer": "error", "runner": "already_completed"}
    for actor, outcome in expected.items():
        resp = await world.clients[actor].post(
            "/api/v1/workflow-runs/cancel", json={"runIds": [world.waiting_run]}
            if actor != "runner" else {"runIds": [world.finished_run]})
        body = await resp.json()
        assert body["data"]["results"][0]["status"] == outcome, (actor, body)
    resp = await world.clients["other"].post(
        "/api/v1/workflow-runs/cancel", json={"workflowId": world.workflow})
    assert resp.status == 404
    detail = await (await world.clients["viewer"].get(
        f"/api/v1/workflow-runs/{world.waiting_run}")).json()
    assert detail["data"]["status"] == "waiting"


async def test_an_outsider_sees_nothing_of_the_workspace(world: World) -> None:
    other = world.clients["other"]
    secrets = [world.waiting_run, world.finished_run, world.workflow, world.workspace]
    for path in (
        "/api/v1/workflow-runs", "/api/v1/workflow-runs?search=approval",
        "/api/v1/workflow-runs?search=Needs", f"/api/v1/workflow-runs?workflowId={world.workflow}",
        "/api/v1/workspaces", "/api/v1/workflows",
    ):
        resp = await other.get(path)
        text = await resp.text()
        for secret in secrets:
            assert secret not in text, (path, text[:300])
    listed = await (await other.get("/api/v1/workflow-runs?search=Needs")).json()
    assert listed["data"] == []
    assert listed["pagination"]["total"] == 0
    viewer = await (await world.clients["viewer"].get(
        "/api/v1/workflow-runs?search=Needs")).json()
    assert [r["id"] for r in viewer["data"]] == [world.waiting_run]
    # A cursor is only a position: it never opens another workspace's run.
    for path in (f"/api/v1/workflow-runs/{world.waiting_run}/stream?lastEventId=0",
                 f"/api/v1/workflow-requests/{world.waiting_run}/listen?lastEventId=0",
                 f"/api/v1/workflow-runs/{world.waiting_run}/events?after=0"):
        resp = await other.get(path, headers={"Last-Event-ID": "1"})
        assert resp.status == 404, path
        assert world.waiting_run not in await resp.text()
