"""Session login, logout and `me`: the cookie is the only thing a browser needs."""

from __future__ import annotations

import io

from aiohttp.test_utils import TestClient

from service.auth.setup import SESSION_COOKIE
from tests.support.auth import (
    ADMIN_PASSWORD,
    ClientFactory,
    login,
)


async def test_login_sets_an_httponly_lax_cookie_and_me_names_the_user(anon: TestClient) -> None:
    resp = await anon.post("/api/v1/auth/login",
                           json={"username": "admin", "password": ADMIN_PASSWORD})
    assert resp.status == 200
    body = await resp.json()
    assert body["data"]["username"] == "admin"
    assert body["data"]["isAdmin"] is True
    cookie = resp.cookies[SESSION_COOKIE]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    me = await anon.get("/api/v1/auth/me")
    assert me.status == 200
    data = (await me.json())["data"]
    assert data["username"] == "admin"
    assert data["via"] == "session"
    assert {"id": "default", "role": "admin"}.items() <= data["workspaces"][0].items()


async def test_login_accepts_a_form_body(anon: TestClient) -> None:
    resp = await anon.post("/api/v1/auth/login",
                           data={"username": "admin", "password": ADMIN_PASSWORD})
    assert resp.status == 200
    assert (await anon.get("/api/v1/auth/me")).status == 200


async def test_wrong_password_and_unknown_user_get_the_same_401(anon: TestClient) -> None:
    wrong = await login(anon, "admin", "not-the-password", expect=401)
    unknown = await login(anon, "nobody", ADMIN_PASSWORD, expect=401)
    assert wrong == unknown
    assert wrong["error"]["code"] == "unauthorized"
    assert SESSION_COOKIE not in anon.session.cookie_jar.filter_cookies(anon.make_url("/"))


async def test_username_is_case_insensitive_but_password_is_not(anon: TestClient) -> None:
    await login(anon, "ADMIN", ADMIN_PASSWORD.upper(), expect=401)
    await login(anon, "ADMIN", ADMIN_PASSWORD, expect=200)


async def test_me_without_credentials_is_401(anon: TestClient) -> None:
    resp = await anon.get("/api/v1/auth/me")
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "unauthorized"


async def test_login_rejects_bad_bodies_with_400(anon: TestClient) -> None:
    cases = [
        ("{not json", "application/json"),
        ("[1, 2]", "application/json"),
        ('{"username": "admin"}', "application/json"),
        ('{"username": 1, "password": "x"}', "application/json"),
        ('{"username": "admin", "password": null}', "application/json"),
        ("username=admin", "text/plain"),
    ]
    for body, content_type in cases:
        resp = await anon.post("/api/v1/auth/login", data=body,
                               headers={"Content-Type": content_type})
        assert resp.status == 400, (body, content_type)
        assert (await resp.json())["error"]["code"] == "bad_request"


async def test_huge_body_is_413_with_a_json_error(anon: TestClient) -> None:
    huge = b'{"username": "' + b"a" * 2_000_000 + b'", "password": "x"}'
    resp = await anon.post("/api/v1/auth/login", data=io.BytesIO(huge),
                           headers={"Content-Type": "application/json"})
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "too_large"


async def test_logout_ends_the_session_even_for_a_replayed_cookie(
    new_client: ClientFactory, admin: TestClient
) -> None:
    stolen = admin.session.cookie_jar.filter_cookies(admin.make_url("/"))[SESSION_COOKIE].value
    resp = await admin.post("/api/v1/auth/logout", json={})
    assert resp.status == 200
    assert (await admin.get("/api/v1/auth/me")).status == 401
    replay = await new_client()
    resp = await replay.get("/api/v1/auth/me", headers={"Cookie": f"{SESSION_COOKIE}={stolen}"})
    assert resp.status == 401


async def test_a_forged_cookie_is_anonymous(anon: TestClient) -> None:
    resp = await anon.get("/api/v1/auth/me", headers={"Cookie": f"{SESSION_COOKIE}=gAAAAAforged"})
    assert resp.status == 401


async def test_login_replaces_any_previous_session(admin: TestClient) -> None:
    jar = admin.session.cookie_jar
    before = jar.filter_cookies(admin.make_url("/"))[SESSION_COOKIE].value
    await login(admin, "admin", ADMIN_PASSWORD)
    after = jar.filter_cookies(admin.make_url("/"))[SESSION_COOKIE].value
    assert before != after
