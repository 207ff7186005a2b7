"""The access API other views call: workspace roles, visibility, admin checks and chats."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from service.app import create_app
from service.auth import access
from service.auth.roles import Role
from service.settings import Settings
from tests.support.auth import (
    ClientFactory,
    user_client,
)


async def _role(request: web.Request) -> web.Response:
    role = Role.parse(request.match_info["role"])
    principal = await access.require_workspace_role(
        request, request.match_info["ws"], role, message="thing not found"
    )
    return web.json_response({"user": principal.username})


async def _visible(request: web.Request) -> web.Response:
    principal = request.get(access.PRINCIPAL)
    ids = await access.visible_workspace_ids(
        request, principal, Role.parse(request.query.get("min", "viewer"))
    )
    return web.json_response({"ids": ids})


async def _admin_only(request: web.Request) -> web.Response:
    return web.json_response({"user": access.require_admin(request).username})


async def _new_chat(request: web.Request) -> web.Response:
    principal = access.require_principal(request)
    body = await request.json()
    return web.json_response(await access.create_chat(request, principal, body["title"]))


async def _get_chat(request: web.Request) -> web.Response:
    principal = access.require_principal(request)
    return web.json_response(await access.get_chat_for(request, principal, request.match_info["id"]))


@pytest.fixture
async def auth_server(aiohttp_server: Any, auth_settings: Settings) -> TestServer:
    """The real app plus probe routes that call the access API the way views do."""
    app = create_app(auth_settings)
    app.router.add_get("/probe/ws/{ws}/{role}", _role)
    app.router.add_get("/probe/visible", _visible)
    app.router.add_get("/probe/admin", _admin_only)
    app.router.add_post("/probe/chats", _new_chat)
    app.router.add_get("/probe/chats/{id}", _get_chat)
    server: TestServer = await aiohttp_server(app)
    return server


@pytest.fixture
async def team(new_client: ClientFactory, admin: TestClient) -> dict[str, Any]:
    """Workspace `team` with viewer alice and editor bob; carol belongs to nothing."""
    alice, _ = await user_client(new_client, admin, "alice")
    bob, _ = await user_client(new_client, admin, "bob")
    carol, _ = await user_client(new_client, admin, "carol")
    ws = (await (await admin.post("/api/v1/workspaces", json={"name": "team"})).json())["data"]
    url = f"/api/v1/workspaces/{ws['id']}/members"
    for name, role in (("alice", "viewer"), ("bob", "editor")):
        assert (await admin.post(url, json={"username": name, "role": role})).status == 201
    return {"id": ws["id"], "alice": alice, "bob": bob, "carol": carol}


async def test_require_workspace_role_statuses(
    team: dict[str, Any], admin: TestClient, anon: TestClient
) -> None:
    url = f"/probe/ws/{team['id']}/runner"
    assert (await team["alice"].get(url)).status == 403
    assert (await team["bob"].get(url)).status == 200
    stranger = await team["carol"].get(url)
    assert stranger.status == 404
    assert (await stranger.json())["error"]["message"] == "thing not found"
    assert (await admin.get(url)).status == 200
    assert (await anon.get(url)).status == 401
    assert (await team["alice"].get(f"/probe/ws/{team['id']}/viewer")).status == 200
    assert (await admin.get("/probe/ws/not-a-uuid/viewer")).status == 400
    missing = "/probe/ws/00000000-0000-4000-8000-000000000000/viewer"
    assert (await admin.get(missing)).status == 404


async def test_visible_workspace_ids(team: dict[str, Any], admin: TestClient,
                                     anon: TestClient) -> None:
    async def ids(client: TestClient, min_role: str) -> Any:
        return (await (await client.get(f"/probe/visible?min={min_role}")).json())["ids"]

    assert await ids(team["alice"], "viewer") == [team["id"]]
    assert await ids(team["alice"], "runner") == []
    assert await ids(team["bob"], "editor") == [team["id"]]
    assert await ids(team["carol"], "viewer") == []
    assert await ids(admin, "admin") is None
    assert await ids(anon, "viewer") == []


async def test_require_admin(team: dict[str, Any], admin: TestClient, anon: TestClient) -> None:
    assert (await admin.get("/probe/admin")).status == 200
    assert (await team["bob"].get("/probe/admin")).status == 403
    assert (await anon.get("/probe/admin")).status == 401


async def test_chats_belong_to_one_user(team: dict[str, Any]) -> None:
    alice, bob = team["alice"], team["bob"]
    resp = await alice.post("/probe/chats", json={"title": "hello"})
    chat = await resp.json()
    assert chat["title"] == "hello"
    assert chat["id"]
    assert (await alice.get(f"/probe/chats/{chat['id']}")).status == 200
    assert (await bob.get(f"/probe/chats/{chat['id']}")).status == 403
    assert (await alice.get("/probe/chats/nope")).status == 400
    assert (await alice.get("/probe/chats/00000000-0000-4000-8000-000000000000")).status == 404
    assert (await alice.post("/probe/chats", json={"title": "t" * 201})).status == 400
