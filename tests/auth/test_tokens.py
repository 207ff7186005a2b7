"""API tokens: shown once, stored hashed, listed without secrets, revocable."""

from __future__ import annotations

import sqlite3

from aiohttp.test_utils import TestClient

from service.settings import Settings
from tests.support.auth import (
    ClientFactory,
    bearer,
    create_token,
    user_client,
)

JSON = {"Content-Type": "application/json"}


async def test_a_created_token_authenticates_and_is_shown_only_once(
    admin: TestClient, anon: TestClient, auth_settings: Settings
) -> None:
    created = await create_token(admin, "ci")
    assert created["token"].startswith(created["prefix"])
    assert created["name"] == "ci"
    me = await anon.get("/api/v1/auth/me", headers=bearer(created["token"]))
    assert me.status == 200
    assert (await me.json())["data"]["via"] == "token"
    listed = await (await admin.get("/api/v1/tokens")).json()
    assert [t["id"] for t in listed["data"]] == [created["id"]]
    assert "token" not in listed["data"][0]
    assert created["token"] not in str(listed)
    assert listed["pagination"] == {"page": 1, "limit": 10, "total": 1, "totalPages": 1}
    with sqlite3.connect(auth_settings.database_path) as db:
        rows = db.execute("SELECT * FROM api_tokens").fetchall()
    assert created["token"] not in str(rows)


async def test_a_revoked_token_is_401(admin: TestClient, anon: TestClient) -> None:
    created = await create_token(admin)
    resp = await admin.delete(f"/api/v1/tokens/{created['id']}", headers=JSON)
    assert resp.status == 200
    assert (await resp.json())["data"]["revokedAt"] is not None
    resp = await anon.get("/api/v1/auth/me", headers=bearer(created["token"]))
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_an_invalid_token_is_401_even_with_a_valid_cookie(admin: TestClient) -> None:
    for header in ("Bearer rs_not-a-real-token", "Bearer", "Basic YWRtaW46eA==", "rs_x"):
        resp = await admin.get("/api/v1/auth/me", headers={"Authorization": header})
        assert resp.status == 401, header
        assert (await resp.json())["error"]["code"] == "unauthorized"


async def test_the_token_of_a_deleted_user_is_401(
    new_client: ClientFactory, admin: TestClient, anon: TestClient
) -> None:
    bob, user = await user_client(new_client, admin, "bob")
    token = (await create_token(bob))["token"]
    assert (await anon.get("/api/v1/auth/me", headers=bearer(token))).status == 200
    resp = await admin.delete(f"/api/v1/users/{user['id']}", headers=JSON)
    assert resp.status == 200
    assert (await anon.get("/api/v1/auth/me", headers=bearer(token))).status == 401
    assert (await bob.get("/api/v1/auth/me")).status == 401


async def test_another_users_token_cannot_be_seen_or_revoked(
    new_client: ClientFactory, admin: TestClient, anon: TestClient
) -> None:
    alice, _ = await user_client(new_client, admin, "alice")
    mallory, _ = await user_client(new_client, admin, "mallory")
    token = await create_token(alice)
    assert (await (await mallory.get("/api/v1/tokens")).json())["data"] == []
    resp = await mallory.delete(f"/api/v1/tokens/{token['id']}", headers=JSON)
    assert resp.status == 404
    assert (await anon.get("/api/v1/auth/me", headers=bearer(token["token"]))).status == 200
    # A token authenticates as its own user only.
    me = await (await anon.get("/api/v1/auth/me", headers=bearer(token["token"]))).json()
    assert me["data"]["username"] == "alice"


async def test_an_admin_may_revoke_anyones_token(
    new_client: ClientFactory, admin: TestClient, anon: TestClient
) -> None:
    alice, _ = await user_client(new_client, admin, "alice")
    token = await create_token(alice)
    resp = await admin.delete(f"/api/v1/tokens/{token['id']}", headers=JSON)
    assert resp.status == 200
    assert (await anon.get("/api/v1/auth/me", headers=bearer(token["token"]))).status == 401


async def test_token_ids_are_checked(admin: TestClient) -> None:
    resp = await admin.delete("/api/v1/tokens/not-a-uuid", headers=JSON)
    assert resp.status == 400
    resp = await admin.delete("/api/v1/tokens/00000000-0000-4000-8000-000000000000",
                              headers=JSON)
    assert resp.status == 404


async def test_token_bodies_are_validated(admin: TestClient) -> None:
    for body in ('{"name": 5}', '{"name": "' + "n" * 101 + '"}', "[]", "{"):
        resp = await admin.post("/api/v1/tokens", data=body, headers=JSON)
        assert resp.status == 400, body


async def test_tokens_need_credentials(anon: TestClient) -> None:
    assert (await anon.get("/api/v1/tokens")).status == 401
    assert (await anon.post("/api/v1/tokens", json={})).status == 401


async def test_a_token_can_create_tokens_and_use_them(admin: TestClient, anon: TestClient) -> None:
    first = (await create_token(admin))["token"]
    resp = await anon.post("/api/v1/tokens", json={"name": "second"}, headers=bearer(first))
    assert resp.status == 201
    second = (await resp.json())["data"]["token"]
    assert (await anon.get("/api/v1/auth/me", headers=bearer(second))).status == 200
