"""Taking access away: removing a member, changing a password, revoking a token, deleting
a user. Each takes effect on the next request and ends the user's open streams, whose
reconnects are checked again (and resume with no loss when still allowed)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from service import keys
from service.auth.setup import SESSION_COOKIE
from tests.support.api import APPROVAL_WORKFLOW, create_workflow, start_waiting_run
from tests.support.auth import (
    ADMIN_PASSWORD,
    USER_PASSWORD,
    ClientFactory,
    bearer,
    create_token,
    login,
    user_client,
)
from tests.support.sse import iter_frames

NEW_PASSWORD = "a-brand-new-password"


async def team_run(admin: TestClient) -> tuple[str, str]:
    """A workspace "team" with a run waiting for approval in it."""
    resp = await admin.post("/api/v1/workspaces", json={"name": "team"})
    assert resp.status == 201, await resp.text()
    workspace = (await resp.json())["data"]["id"]
    workflow_id = await create_workflow(admin, {**APPROVAL_WORKFLOW, "workspaceId": workspace})
    return workspace, await start_waiting_run(admin, workflow_id, workspace, x=1)


async def add_member(admin: TestClient, workspace: str, username: str, role: str) -> None:
    resp = await admin.post(f"/api/v1/workspaces/{workspace}/members",
                            json={"username": username, "role": role})
    assert resp.status in (200, 201), await resp.text()


async def ends(resp: ClientResponse, within_s: float = 5.0) -> int:
    """Read a stream until the server ends it; returns how many event frames it sent."""
    count = 0
    async with asyncio.timeout(within_s):
        async for frame in iter_frames(resp):
            if frame.id is not None:
                count += 1
    return count


async def test_removing_a_member_ends_their_streams_and_their_access(
    admin: TestClient, new_client: ClientFactory
) -> None:
    workspace, run_id = await team_run(admin)
    viewer, user = await user_client(new_client, admin, "vera")
    await add_member(admin, workspace, "vera", "viewer")
    stream = await viewer.get(f"/api/v1/workflow-runs/{run_id}/stream")
    assert stream.status == 200
    frames = iter_frames(stream)
    async for frame in frames:  # she is served: the run's history arrives
        if frame.id is not None:
            break
    resp = await admin.delete(f"/api/v1/workspaces/{workspace}/members/{user['id']}",
                              json={})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["data"]["removed"] is True
    async with asyncio.timeout(5):
        async for _ in frames:  # and then the server ends the stream
            pass
    # The reconnect is checked again: the run is now invisible to her.
    again = await viewer.get(f"/api/v1/workflow-runs/{run_id}/stream",
                             headers={"Last-Event-ID": "1"})
    assert again.status == 404
    assert (await viewer.get(f"/api/v1/workflow-runs/{run_id}")).status == 404
    # Removing her again: she is not a member.
    resp = await admin.delete(f"/api/v1/workspaces/{workspace}/members/{user['id']}",
                              json={})
    assert resp.status == 404


async def test_only_the_removed_members_streams_end(
    admin: TestClient, new_client: ClientFactory
) -> None:
    workspace, run_id = await team_run(admin)
    stays, _ = await user_client(new_client, admin, "stays")
    goes, gone_user = await user_client(new_client, admin, "goes")
    await add_member(admin, workspace, "stays", "viewer")
    await add_member(admin, workspace, "goes", "viewer")
    kept = await stays.get(f"/api/v1/workflow-runs/{run_id}/stream")
    ended = await goes.get(f"/api/v1/workflow-runs/{run_id}/stream")
    resp = await admin.delete(f"/api/v1/workspaces/{workspace}/members/{gone_user['id']}",
                              json={})
    assert resp.status == 200
    await ends(ended)
    streams = admin.server.app[keys.STREAMS]  # type: ignore[index]
    assert len(streams) == 1  # the one that stays
    kept.close()


async def test_the_last_admin_of_a_workspace_cannot_be_removed(admin: TestClient) -> None:
    workspace, _ = await team_run(admin)
    me = (await (await admin.get("/api/v1/auth/me")).json())["data"]
    resp = await admin.delete(f"/api/v1/workspaces/{workspace}/members/{me['id']}", json={})
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "conflict"
    resp = await admin.delete(f"/api/v1/workspaces/{workspace}/members/not-a-uuid", json={})
    assert resp.status == 400


async def test_changing_a_password_ends_every_session_and_renews_the_callers(
    admin: TestClient, new_client: ClientFactory
) -> None:
    here, _ = await user_client(new_client, admin, "pat")
    elsewhere = await new_client()
    await login(elsewhere, "pat", USER_PASSWORD)
    token = (await create_token(here))["token"]
    old_cookie = here.session.cookie_jar.filter_cookies(here.make_url("/"))[SESSION_COOKIE].value
    stream = await elsewhere.get("/api/v1/workflow-runs/stream")  # the console's feed
    assert stream.status == 200
    resp = await here.post("/api/v1/auth/password", json={
        "currentPassword": USER_PASSWORD, "newPassword": NEW_PASSWORD})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["data"] == {"passwordChanged": True, "sessionsEnded": 2}
    await ends(stream)
    # A copy of the caller's old cookie (a thief's) no longer works; the caller's new one does.
    stolen = await new_client()
    stolen.session.cookie_jar.update_cookies(
        {SESSION_COOKIE: old_cookie}, here.make_url("/"))
    assert (await stolen.get("/api/v1/auth/me")).status == 401
    assert (await here.get("/api/v1/auth/me")).status == 200
    assert (await elsewhere.get("/api/v1/auth/me")).status == 401
    # API tokens are credentials of their own: they stay until revoked.
    assert (await elsewhere.get("/api/v1/auth/me", headers=bearer(token))).status == 200
    fresh = await new_client()
    await login(fresh, "pat", USER_PASSWORD, expect=401)
    await login(fresh, "pat", NEW_PASSWORD, expect=200)


async def test_a_password_change_needs_the_current_password(
    admin: TestClient, new_client: ClientFactory
) -> None:
    client, _ = await user_client(new_client, admin, "quinn")
    resp = await client.post("/api/v1/auth/password", json={
        "currentPassword": "not-it", "newPassword": NEW_PASSWORD})
    assert resp.status == 403
    resp = await client.post("/api/v1/auth/password", json={
        "currentPassword": USER_PASSWORD, "newPassword": "short"})
    assert resp.status == 400
    assert "newPassword" in (await resp.json())["error"]["message"]
    # Nothing changed: the old password still signs in.
    await login(await new_client(), "quinn", USER_PASSWORD, expect=200)


async def test_revoking_a_token_ends_the_streams_it_could_open(
    admin: TestClient, new_client: ClientFactory
) -> None:
    workflow_id = await create_workflow(admin, APPROVAL_WORKFLOW)
    run_id = await start_waiting_run(admin, workflow_id, x=1)
    token = await create_token(admin)
    reader = await new_client()
    stream = await reader.get(f"/api/v1/workflow-runs/{run_id}/stream",
                              headers=bearer(token["token"]))
    assert stream.status == 200
    resp = await admin.delete(f"/api/v1/tokens/{token['id']}", json={})
    assert resp.status == 200
    await ends(stream)
    again = await reader.get(f"/api/v1/workflow-runs/{run_id}/stream",
                             headers={**bearer(token["token"]), "Last-Event-ID": "1"})
    assert again.status == 401


async def test_removal_from_one_workspace_leaves_the_users_other_streams_alone(
    admin: TestClient, new_client: ClientFactory
) -> None:
    """Anyone may add a user to a workspace of their own and remove them again: that must
    not cut the user's streams of other workspaces."""
    workspace, run_id = await team_run(admin)
    victim, user = await user_client(new_client, admin, "victim")
    await add_member(admin, workspace, "victim", "viewer")
    mallory, _ = await user_client(new_client, admin, "mallory")
    stream = await victim.get(f"/api/v1/workflow-runs/{run_id}/stream")
    assert stream.status == 200
    resp = await mallory.post("/api/v1/workspaces", json={"name": "mallorys"})
    own = (await resp.json())["data"]["id"]
    await add_member(mallory, own, "victim", "viewer")
    resp = await mallory.delete(f"/api/v1/workspaces/{own}/members/{user['id']}", json={})
    assert resp.status == 200
    await asyncio.sleep(0.1)
    assert len(admin.server.app[keys.STREAMS]) == 1  # type: ignore[index]
    stream.close()


async def test_a_stream_checks_its_access_again_while_it_runs(
    aiohttp_client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Credentials taken away where the server cannot see it (here `runstream users
    passwd`, another process) end the stream within `stream_access_check_s`."""
    from service.app import create_app
    from tests.support.auth import make_settings
    from tests.support.cli import arun

    app = create_app(make_settings(tmp_path, stream_access_check_s=0.2))
    client = await aiohttp_client(app)
    await login(client, "admin", ADMIN_PASSWORD)
    workflow_id = await create_workflow(client, APPROVAL_WORKFLOW)
    run_id = await start_waiting_run(client, workflow_id, x=1)
    stream = await client.get(f"/api/v1/workflow-runs/{run_id}/stream")
    assert stream.status == 200
    capsys.readouterr()
    code, _, _ = await arun(capsys, "users", "passwd", "admin", "--data-dir", str(tmp_path))
    assert code == 0
    await ends(stream)
    assert not app[keys.STREAMS]
