"""Users (admins manage them) and workspaces with member roles."""

from __future__ import annotations

import sqlite3

from aiohttp.test_utils import TestClient

from service.settings import Settings
from tests.support.auth import (
    ClientFactory,
    create_user,
    login,
    user_client,
)

JSON = {"Content-Type": "application/json"}


async def test_admin_creates_users_and_lists_them_without_secrets(
    admin: TestClient, anon: TestClient, auth_settings: Settings
) -> None:
    user = await create_user(admin, "alice", "alice-password")
    assert set(user) == {"id", "username", "isAdmin", "createdAt"}
    await login(anon, "alice", "alice-password")
    listed = await (await admin.get("/api/v1/users")).json()
    assert [u["username"] for u in listed["data"]] == ["admin", "alice"]
    assert all(set(u) == {"id", "username", "isAdmin", "createdAt"} for u in listed["data"])
    assert listed["pagination"]["total"] == 2
    with sqlite3.connect(auth_settings.database_path) as db:
        (stored,) = db.execute("SELECT password_hash FROM users WHERE username = 'alice'").fetchone()
    assert stored.startswith("scrypt$")
    assert "alice-password" not in stored


async def test_a_user_created_without_a_password_gets_one_shown_once(
    admin: TestClient, anon: TestClient
) -> None:
    resp = await admin.post("/api/v1/users", json={"username": "gen"})
    assert resp.status == 201
    password = (await resp.json())["data"]["password"]
    await login(anon, "gen", password)
    listed = await (await admin.get("/api/v1/users")).json()
    assert password not in str(listed)


async def test_usernames_are_unique_ignoring_case(admin: TestClient) -> None:
    await create_user(admin, "alice")
    resp = await admin.post("/api/v1/users", json={"username": "ALICE", "password": "x" * 12})
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "conflict"


async def test_user_bodies_are_validated(admin: TestClient) -> None:
    bad = [
        {"password": "long-enough-pw"},
        {"username": "", "password": "long-enough-pw"},
        {"username": "has space", "password": "long-enough-pw"},
        {"username": "x" * 65, "password": "long-enough-pw"},
        {"username": 7, "password": "long-enough-pw"},
        {"username": "short", "password": "1234567"},
        {"username": "typed", "password": 12345678},
        {"username": "flag", "password": "long-enough-pw", "isAdmin": "maybe"},
    ]
    for body in bad:
        resp = await admin.post("/api/v1/users", json=body)
        assert resp.status == 400, body
    resp = await admin.post("/api/v1/users", data="{", headers=JSON)
    assert resp.status == 400
    assert [u["username"] for u in (await (await admin.get("/api/v1/users")).json())["data"]] == [
        "admin"
    ]


async def test_non_admins_cannot_touch_users(
    new_client: ClientFactory, admin: TestClient, anon: TestClient
) -> None:
    alice, user = await user_client(new_client, admin, "alice")
    assert (await alice.get("/api/v1/users")).status == 403
    resp = await alice.post("/api/v1/users",
                            json={"username": "evil", "password": "x" * 12, "isAdmin": True})
    assert resp.status == 403
    assert (await alice.delete(f"/api/v1/users/{user['id']}", headers=JSON)).status == 403
    assert (await anon.get("/api/v1/users")).status == 401
    assert (await anon.post("/api/v1/users", json={"username": "x"})).status == 401


async def test_deleting_users(new_client: ClientFactory, admin: TestClient) -> None:
    alice, user = await user_client(new_client, admin, "alice")
    me = (await (await admin.get("/api/v1/auth/me")).json())["data"]
    assert (await admin.delete(f"/api/v1/users/{me['id']}", headers=JSON)).status == 409
    assert (await admin.delete("/api/v1/users/nope", headers=JSON)).status == 400
    assert (await admin.delete(f"/api/v1/users/{user['id']}", headers=JSON)).status == 200
    assert (await admin.delete(f"/api/v1/users/{user['id']}", headers=JSON)).status == 404
    assert (await alice.get("/api/v1/auth/me")).status == 401
    await login(alice, "alice", "user-secret-pw", expect=401)


async def test_pagination_bounds(admin: TestClient) -> None:
    for query in ("page=0", "limit=0", "limit=101", "page=x", "limit=-1", "page=1_0"):
        assert (await admin.get(f"/api/v1/users?{query}")).status == 400, query
    resp = await admin.get("/api/v1/users?page=2&limit=1")
    body = await resp.json()
    assert body["data"] == []
    assert body["pagination"]["totalPages"] == 1


async def test_workspaces_are_visible_to_their_members_only(
    new_client: ClientFactory, admin: TestClient
) -> None:
    alice, _ = await user_client(new_client, admin, "alice")
    bob, _ = await user_client(new_client, admin, "bob")
    resp = await alice.post("/api/v1/workspaces", json={"name": "Alice's"})
    assert resp.status == 201
    created = (await resp.json())["data"]
    assert created["role"] == "admin"
    assert created["id"]
    alice_sees = (await (await alice.get("/api/v1/workspaces")).json())["data"]
    assert [w["name"] for w in alice_sees] == ["Alice's"]
    assert (await (await bob.get("/api/v1/workspaces")).json())["data"] == []
    admin_sees = (await (await admin.get("/api/v1/workspaces")).json())["data"]
    assert {w["name"] for w in admin_sees} == {"default", "Alice's"}
    dup = await bob.post("/api/v1/workspaces", json={"name": "alice's"})
    assert dup.status == 409


async def test_workspace_bodies_are_validated(admin: TestClient, anon: TestClient) -> None:
    for body in ({}, {"name": ""}, {"name": 3}, {"name": " padded "}, {"name": "x" * 101}):
        assert (await admin.post("/api/v1/workspaces", json=body)).status == 400, body
    assert (await anon.post("/api/v1/workspaces", json={"name": "x"})).status == 401
    assert (await anon.get("/api/v1/workspaces")).status == 401


async def test_members_are_added_by_workspace_admins(
    new_client: ClientFactory, admin: TestClient
) -> None:
    alice, _ = await user_client(new_client, admin, "alice")
    bob, bob_user = await user_client(new_client, admin, "bob")
    carol, _ = await user_client(new_client, admin, "carol")
    ws = (await (await alice.post("/api/v1/workspaces", json={"name": "team"})).json())["data"]
    url = f"/api/v1/workspaces/{ws['id']}/members"
    resp = await alice.post(url, json={"username": "bob", "role": "viewer"})
    assert resp.status == 201
    assert (await resp.json())["data"] == {
        "workspaceId": ws["id"], "userId": bob_user["id"], "username": "bob", "role": "viewer",
    }
    bob_sees = (await (await bob.get("/api/v1/workspaces")).json())["data"]
    assert [(w["name"], w["role"]) for w in bob_sees] == [("team", "viewer")]
    # A viewer may not manage members; a stranger does not learn the workspace exists.
    assert (await bob.post(url, json={"username": "carol", "role": "admin"})).status == 403
    assert (await carol.post(url, json={"username": "carol", "role": "admin"})).status == 404
    # Changing a role answers 200; a global admin may manage any workspace.
    resp = await admin.post(url, json={"userId": bob_user["id"], "role": "editor"})
    assert resp.status == 200
    assert (await resp.json())["data"]["role"] == "editor"
    # Members see the list; a stranger does not.
    listed = await (await bob.get(url)).json()
    assert [(m["username"], m["role"]) for m in listed["data"]] == [
        ("alice", "admin"), ("bob", "editor")]
    assert listed["pagination"]["total"] == 2
    assert (await carol.get(url)).status == 404
    second = await (await alice.get(f"{url}?page=2&limit=1")).json()
    assert [m["username"] for m in second["data"]] == ["bob"]


async def test_member_requests_are_validated(new_client: ClientFactory, admin: TestClient) -> None:
    await create_user(admin, "bob")
    url = "/api/v1/workspaces/default/members"
    cases = [
        ({"username": "bob"}, 400),
        ({"username": "bob", "role": "owner"}, 400),
        ({"username": "bob", "role": 3}, 400),
        ({"role": "viewer"}, 400),
        ({"username": "bob", "userId": "x", "role": "viewer"}, 400),
        ({"userId": "not-a-uuid", "role": "viewer"}, 400),
        ({"userId": "00000000-0000-4000-8000-000000000000", "role": "viewer"}, 404),
        ({"username": "ghost", "role": "viewer"}, 404),
    ]
    for body, status in cases:
        assert (await admin.post(url, json=body)).status == status, body
    assert (await admin.post("/api/v1/workspaces/bad-id/members",
                             json={"username": "bob", "role": "viewer"})).status == 400
    missing = "/api/v1/workspaces/00000000-0000-4000-8000-000000000000/members"
    assert (await admin.post(missing, json={"username": "bob", "role": "viewer"})).status == 404


async def test_the_last_workspace_admin_cannot_be_demoted(
    new_client: ClientFactory, admin: TestClient
) -> None:
    alice, alice_user = await user_client(new_client, admin, "alice")
    ws = (await (await alice.post("/api/v1/workspaces", json={"name": "solo"})).json())["data"]
    url = f"/api/v1/workspaces/{ws['id']}/members"
    resp = await alice.post(url, json={"userId": alice_user["id"], "role": "viewer"})
    assert resp.status == 409
