"""Login throttling: failed logins are limited per account and client, and per client."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from service.auth.setup import SESSION_COOKIE
from service.auth.throttle import MAX_TRACKED_KEYS, LoginThrottle, ThrottleLimits
from service.settings import Settings
from tests.support.auth import (
    ADMIN_PASSWORD,
    USER_PASSWORD,
    create_user,
    login,
    make_settings,
)

PER_ACCOUNT = 3
PER_CLIENT = 7
# Long enough that every failure of a test still counts however slow the machine (each
# login costs an scrypt). Failures ageing out of the window are tested on the throttle with
# a clock of the test's own (test_the_memory_of_failures_is_bounded), not by sleeping.
WINDOW_S = 300.0


@pytest.fixture
def auth_settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path, login_max_failures=PER_ACCOUNT, login_max_failures_per_client=PER_CLIENT,
        login_failure_window_s=WINDOW_S,
    )


async def try_login(client: TestClient, username: str, password: str) -> tuple[int, Any, Any]:
    resp = await client.post("/api/v1/auth/login",
                             json={"username": username, "password": password})
    return resp.status, await resp.json(), resp.headers.get("Retry-After")


async def test_an_account_locks_after_its_failures_even_for_the_right_password(
    anon: TestClient, admin: TestClient
) -> None:
    for _ in range(PER_ACCOUNT):
        await login(anon, "admin", "wrong-password", expect=401)
    status, body, retry_after = await try_login(anon, "Admin", ADMIN_PASSWORD)
    assert status == 429
    assert body["error"]["code"] == "too_many_requests"
    assert retry_after is not None
    assert 1 <= int(retry_after) <= WINDOW_S + 1
    assert body["error"]["details"] == {"retryAfterSeconds": int(retry_after)}
    # The refusal touched nothing: the admin's existing session still works.
    assert (await admin.get("/api/v1/auth/me")).status == 200


async def test_other_accounts_are_not_locked_by_one_accounts_failures(
    anon: TestClient, admin: TestClient
) -> None:
    await create_user(admin, "carol")
    for _ in range(PER_ACCOUNT):
        await login(anon, "admin", "wrong-password", expect=401)
    await login(anon, "admin", ADMIN_PASSWORD, expect=429)
    await login(anon, "carol", USER_PASSWORD, expect=200)


async def test_a_client_cycling_usernames_is_stopped(anon: TestClient) -> None:
    statuses = [(await try_login(anon, f"user{i}", "wrong-password"))[0]
                for i in range(PER_CLIENT + 3)]
    assert statuses == [401] * PER_CLIENT + [429] * 3


async def test_a_success_clears_the_accounts_failures(anon: TestClient) -> None:
    for _ in range(2):
        for _ in range(PER_ACCOUNT - 1):
            await login(anon, "admin", "wrong-password", expect=401)
        await login(anon, "admin", ADMIN_PASSWORD, expect=200)
    await login(anon, "admin", "wrong-password", expect=401)


async def test_parallel_guesses_are_limited_as_well_as_sequential_ones(
    anon: TestClient,
) -> None:
    results = await asyncio.gather(*(
        try_login(anon, "admin", f"guess-{i}") for i in range(PER_ACCOUNT * 4)))
    statuses = sorted(status for status, _, _ in results)
    # Each attempt counts from the moment it starts, not when its password check ends.
    assert statuses == [401] * PER_ACCOUNT + [429] * (PER_ACCOUNT * 3)


async def test_secure_cookie_setting(aiohttp_client: Any, tmp_path: Path) -> None:
    from service.app import create_app

    for secure in (False, True):
        settings = make_settings(tmp_path / str(secure), session_cookie_secure=secure)
        client: TestClient = await aiohttp_client(create_app(settings))
        resp = await client.post("/api/v1/auth/login",
                                 json={"username": "admin", "password": ADMIN_PASSWORD})
        assert resp.status == 200
        assert bool(resp.cookies[SESSION_COOKIE]["secure"]) is secure


def test_the_memory_of_failures_is_bounded() -> None:
    now = [0.0]
    throttle = LoginThrottle(ThrottleLimits(per_account=3, per_client=10, window_s=60),
                             clock=lambda: now[0])
    # Distinct usernames from distinct clients: each attempt adds two keys.
    for i in range(MAX_TRACKED_KEYS):
        throttle.attempt(f"user{i}", f"10.0.{i // 256}.{i % 256}")
        now[0] += 0.001
    assert len(throttle) <= MAX_TRACKED_KEYS + 2
    # The newest client is still remembered and still limited.
    for _ in range(2):
        throttle.attempt("last", "192.0.2.1")
    assert throttle.retry_after("last", "192.0.2.1") is None
    throttle.attempt("last", "192.0.2.1")
    assert throttle.retry_after("last", "192.0.2.1") == 60
    # Once the window has passed, the next prune forgets everything that aged out.
    now[0] += 61
    for i in range(3):
        throttle.attempt(f"fresh{i}", "192.0.2.2")
    assert len(throttle) <= 4
    assert throttle.retry_after("last", "192.0.2.1") is None


async def test_signing_in_to_ones_own_account_does_not_reset_the_client_count(
    anon: TestClient, admin: TestClient
) -> None:
    """A guesser with an account of their own cannot spray other usernames by signing in
    between guesses."""
    await create_user(admin, "mallory")
    statuses = []
    for i in range(PER_CLIENT + 2):
        statuses.append((await try_login(anon, f"victim{i}", "guess"))[0])
        if i % 2 == 1:
            await login(anon, "mallory", USER_PASSWORD, expect=None)
    assert statuses[:PER_CLIENT] == [401] * PER_CLIENT
    assert statuses[PER_CLIENT:] == [429, 429]


def test_a_lockout_is_not_forgotten_when_the_table_fills(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from service.auth import throttle as throttle_module

    monkeypatch.setattr(throttle_module, "MAX_TRACKED_KEYS", 40)
    now = [0.0]
    throttle = LoginThrottle(ThrottleLimits(per_account=3, per_client=0, window_s=60),
                             clock=lambda: now[0])
    for _ in range(3):
        throttle.attempt("admin", "192.0.2.1")
    assert throttle.retry_after("admin", "192.0.2.1") == 60
    for i in range(200):  # fill the table with other accounts, from the same client
        throttle.attempt(f"filler{i}", "192.0.2.1")
    assert len(throttle) <= 41
    assert throttle.retry_after("admin", "192.0.2.1") == 60


def test_an_ipv6_client_counts_by_its_64() -> None:
    from service.auth.throttle import client_network

    assert client_network("2001:db8:1:2::1") == client_network("2001:db8:1:2:ffff::9")
    assert client_network("2001:db8:1:2::1") != client_network("2001:db8:1:3::1")
    assert client_network("::ffff:192.0.2.7") == client_network("192.0.2.7") == "192.0.2.7"
    assert client_network("") == ""


def test_successes_leave_nothing_behind_when_the_table_fills(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Many clients that each sign in once: the table must stay usable (an empty entry
    left by a success once made the next prune fail on every login)."""
    from service.auth import throttle as throttle_module

    monkeypatch.setattr(throttle_module, "MAX_TRACKED_KEYS", 50)
    throttle = LoginThrottle(ThrottleLimits(per_account=3, per_client=10, window_s=60))
    for i in range(200):
        throttle.attempt(f"user{i}", f"198.51.100.{i}")
        throttle.succeeded(f"user{i}", f"198.51.100.{i}")
    assert len(throttle) == 0
    for i in range(60):  # failures fill it past the cap: pruning works
        throttle.attempt(f"guess{i}", f"192.0.2.{i}")
    assert len(throttle) <= 51
    assert throttle.retry_after("guess59", "192.0.2.59") is None
