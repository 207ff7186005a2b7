"""The CSRF rule: cookie-authenticated writes need JSON or a form, and a same-origin Origin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from tests.support.auth import (
    ADMIN_PASSWORD,
    bearer,
    create_token,
)


def own_origin(client: TestClient) -> str:
    return str(client.make_url("")).rstrip("/")


async def test_cookie_write_with_text_plain_is_403(admin: TestClient) -> None:
    resp = await admin.post("/api/v1/workspaces", data='{"name": "x"}',
                            headers={"Content-Type": "text/plain"})
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "forbidden"
    listed = await (await admin.get("/api/v1/workspaces")).json()
    assert [w["name"] for w in listed["data"]] == ["default"]


async def test_cookie_write_without_content_type_is_403(admin: TestClient) -> None:
    resp = await admin.post("/api/v1/auth/logout")
    assert resp.status == 403
    assert (await admin.get("/api/v1/auth/me")).status == 200


async def test_cookie_write_from_a_foreign_origin_is_403(admin: TestClient) -> None:
    for origin in ("https://evil.example", "null", own_origin(admin).replace("http:", "https:")):
        resp = await admin.post("/api/v1/workspaces", json={"name": "x"},
                                headers={"Origin": origin})
        assert resp.status == 403, origin


async def test_cookie_write_from_the_same_origin_or_without_origin_passes(
    admin: TestClient,
) -> None:
    resp = await admin.post("/api/v1/workspaces", json={"name": "same"},
                            headers={"Origin": own_origin(admin)})
    assert resp.status == 201
    resp = await admin.post("/api/v1/workspaces", json={"name": "no-origin"})
    assert resp.status == 201


async def test_cookie_form_write_passes_the_rule(admin: TestClient) -> None:
    resp = await admin.post("/api/v1/auth/logout", data={"x": "1"})
    assert resp.status == 200


async def test_cookie_delete_needs_a_content_type_too(admin: TestClient) -> None:
    token = await create_token(admin)
    resp = await admin.delete(f"/api/v1/tokens/{token['id']}")
    assert resp.status == 403
    resp = await admin.delete(f"/api/v1/tokens/{token['id']}",
                              headers={"Content-Type": "application/json"})
    assert resp.status == 200


async def test_token_writes_are_not_subject_to_the_cookie_rule(
    admin: TestClient, anon: TestClient
) -> None:
    token = (await create_token(admin))["token"]
    resp = await anon.post("/api/v1/workspaces", json={"name": "via-token"},
                           headers={**bearer(token), "Origin": "https://elsewhere.example"})
    assert resp.status == 201
    # No cookie is involved, so a wrong content type is an ordinary bad request.
    resp = await anon.post("/api/v1/workspaces", data="name=x",
                           headers={**bearer(token), "Content-Type": "text/plain"})
    assert resp.status == 400


async def test_login_from_a_foreign_origin_is_403(anon: TestClient) -> None:
    resp = await anon.post("/api/v1/auth/login",
                           json={"username": "admin", "password": ADMIN_PASSWORD},
                           headers={"Origin": "https://evil.example"})
    assert resp.status == 403
    assert (await anon.get("/api/v1/auth/me")).status == 401


async def test_safe_methods_need_nothing(admin: TestClient) -> None:
    resp = await admin.get("/api/v1/auth/me", headers={"Origin": "https://evil.example"})
    assert resp.status == 200


async def test_the_public_origin_behind_a_proxy_passes_and_nothing_else_does(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    from service.app import create_app
    from tests.support.auth import login, make_settings

    settings = make_settings(tmp_path, public_origin="https://Runs.Example.com/")
    client = await aiohttp_client(create_app(settings))
    await login(client, "admin", ADMIN_PASSWORD)
    for origin, status in (("https://runs.example.com", 201), ("http://runs.example.com", 403),
                           ("https://runs.example.com.evil.example", 403),
                           (own_origin(client), 201)):
        resp = await client.post("/api/v1/workspaces", json={"name": f"ws {len(origin)}"},
                                 headers={"Origin": origin})
        assert resp.status == status, origin
