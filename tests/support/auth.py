"""Identity helpers: test settings with a known admin password, login, users and tokens."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from service.settings import Settings, load_settings

ADMIN_PASSWORD = "admin-secret-pw"
USER_PASSWORD = "user-secret-pw"

ClientFactory = Callable[[], Awaitable[TestClient]]


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings on `data_dir`, isolated from the caller's environment and config files."""
    return load_settings(
        overrides={"data_dir": data_dir, "admin_password": ADMIN_PASSWORD,
                   "synchronous": "NORMAL", **overrides},
        environ={},
    )


async def login(
    client: TestClient, username: str, password: str, expect: int | None = 200
) -> dict[str, Any]:
    resp = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
    body: dict[str, Any] = await resp.json()
    if expect is not None:
        assert resp.status == expect, body
    return body


async def create_user(
    admin: TestClient, username: str, password: str = USER_PASSWORD, is_admin: bool = False
) -> dict[str, Any]:
    resp = await admin.post(
        "/api/v1/users", json={"username": username, "password": password, "isAdmin": is_admin}
    )
    body = await resp.json()
    assert resp.status == 201, body
    data: dict[str, Any] = body["data"]
    return data


async def create_member(admin: TestClient, username: str, role: str,
                        workspace: str = "default") -> dict[str, Any]:
    """A new user with `role` in `workspace`."""
    user = await create_user(admin, username)
    resp = await admin.post(f"/api/v1/workspaces/{workspace}/members",
                            json={"username": username, "role": role})
    assert resp.status == 201, await resp.text()
    return user


async def user_client(
    new_client: ClientFactory, admin: TestClient, username: str, is_admin: bool = False
) -> tuple[TestClient, dict[str, Any]]:
    """A new user, and a client logged in as them."""
    user = await create_user(admin, username, is_admin=is_admin)
    client = await new_client()
    await login(client, username, USER_PASSWORD)
    return client, user


async def create_token(client: TestClient, name: str = "t") -> dict[str, Any]:
    resp = await client.post("/api/v1/tokens", json={"name": name})
    body = await resp.json()
    assert resp.status == 201, body
    data: dict[str, Any] = body["data"]
    return data


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
