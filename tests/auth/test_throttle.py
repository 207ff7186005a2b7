"""Login throttling: failed logins are limited per account and client, and per client."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from service.auth.setup import SESSION_COOKIE
from service.auth.throttle import LoginThrottle, ThrottleLimits
from service.settings import Settings
from tests.support.auth import (
    ADMIN_PASSWORD,
    USER_PASSWORD,
    create_user,
    login,
    make_settings,
)
from tests.support.backends import Backend

PER_ACCOUNT = 3
PER_CLIENT = 7
# Long enough that every failure of a test still counts however slow the machine (each
# login costs an scrypt). Failures ageing out of the window are tested on the throttle with
# a clock of the test's own (test_failures_age_out_of_the_window_and_leave_no_rows), not by
# sleeping.
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


async def test_failures_age_out_of_the_window_and_leave_no_rows(backend: Backend) -> None:
    now = [1_000_000.0]
    throttle = await throttle_on(backend, ThrottleLimits(3, 10, 60), lambda: now[0])
    for _ in range(3):
        assert await throttle.attempt("last", "192.0.2.1") is None
    assert await throttle.attempt("last", "192.0.2.1") == 60
    now[0] += 30
    assert await throttle.attempt("Last", "192.0.2.1") == 30  # usernames fold case
    # Once the window has passed, the next attempt forgets everything that aged out.
    now[0] += 31
    assert await throttle.attempt("fresh", "192.0.2.2") is None
    assert await throttle.tracked() == 2  # the fresh account and its client
    assert await throttle.attempt("last", "192.0.2.1") is None


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


async def test_a_lockout_holds_however_many_other_accounts_fail(backend: Backend) -> None:
    now = [1_000_000.0]
    throttle = await throttle_on(backend, ThrottleLimits(3, 0, 60), lambda: now[0])
    for _ in range(3):
        await throttle.attempt("admin", "192.0.2.1")
    assert await throttle.attempt("admin", "192.0.2.1") == 60
    for i in range(200):  # other accounts, from the same client
        assert await throttle.attempt(f"filler{i}", "192.0.2.1") is None
    assert await throttle.attempt("admin", "192.0.2.1") == 60


def test_an_ipv6_client_counts_by_its_64() -> None:
    from service.auth.throttle import client_network

    assert client_network("2001:db8:1:2::1") == client_network("2001:db8:1:2:ffff::9")
    assert client_network("2001:db8:1:2::1") != client_network("2001:db8:1:3::1")
    assert client_network("::ffff:192.0.2.7") == client_network("192.0.2.7") == "192.0.2.7"
    assert client_network("") == ""


async def test_successes_leave_nothing_behind(backend: Backend) -> None:
    throttle = await throttle_on(backend, ThrottleLimits(3, 10, 60))
    for i in range(50):
        assert await throttle.attempt(f"user{i}", f"198.51.100.{i}") is None
        await throttle.succeeded(f"user{i}", f"198.51.100.{i}")
    assert await throttle.tracked() == 0
    # A refused attempt leaves no row for a username the client had not tried before.
    for i in range(10):
        await throttle.attempt(f"guess{i}", "192.0.2.9")
    assert await throttle.attempt("another", "192.0.2.9") is not None
    assert await throttle.tracked() == 11


async def test_a_success_takes_only_itself_off_the_clients_count(backend: Backend) -> None:
    throttle = await throttle_on(backend, ThrottleLimits(3, 4, 60))
    for i in range(3):
        await throttle.attempt(f"victim{i}", "192.0.2.3")
    await throttle.attempt("mallory", "192.0.2.3")
    await throttle.succeeded("mallory", "192.0.2.3")
    assert await throttle.attempt("victim9", "192.0.2.3") is None  # the 4th failure
    assert await throttle.attempt("victim10", "192.0.2.3") is not None


async def throttle_on(backend: Backend, limits: ThrottleLimits,
                      clock: Callable[[], float] | None = None) -> LoginThrottle:
    store = await backend.open(projectors=[])
    throttle = LoginThrottle(store, limits) if clock is None else LoginThrottle(
        store, limits, clock)
    await throttle.ensure_schema()
    return throttle
