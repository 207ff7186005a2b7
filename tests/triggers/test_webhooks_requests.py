"""What a delivery may be: methods, bodies (JSON, forms, text), size, rate; and that the
session layer (cookies, the CSRF rule, API tokens) stays out of /hooks/."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from service.settings import Settings
from tests.support.api import wait_for_status
from tests.support.auth import make_settings
from tests.triggers.webhook_helpers import (
    GITHUB,
    deliveries_of,
    github_signature,
    runs_of,
    webhook_for,
)

RATE = 3
MAX_BODY = 2048


@pytest.fixture
def auth_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, schedule_tick_s=0, webhook_rate_per_minute=RATE,
                         webhook_max_body_bytes=MAX_BODY)


async def test_over_the_rate_a_delivery_gets_429_with_retry_after(
        admin: TestClient, anon: TestClient) -> None:
    webhook = await webhook_for(admin, {"auth": "none"})
    statuses = [(await anon.post(webhook["url"], json={"n": n})).status for n in range(RATE)]
    assert statuses == [202] * RATE
    resp = await anon.post(webhook["url"], json={"n": RATE})
    assert resp.status == 429
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert (await resp.json())["error"]["code"] == "too_many_requests"
    assert len(await runs_of(admin, webhook["id"])) == RATE
    # Per webhook: another one is not slowed by the first.
    other = await webhook_for(admin, {"auth": "none"})
    assert (await anon.post(other["url"], json={})).status == 202
    # A 429 is answered, not recorded: a flood costs no writes.
    assert [d["status"] for d in await deliveries_of(admin, webhook)] == [202] * RATE


async def test_forged_deliveries_do_not_use_up_the_senders_rate(
        admin: TestClient, anon: TestClient) -> None:
    webhook = await webhook_for(admin, GITHUB)
    for n in range(RATE * 3):
        resp = await anon.post(webhook["url"], data=b"{}", headers={
            "Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={n:064x}"})
        assert resp.status == 401
    resp = await anon.post(webhook["url"], data=b"{}", headers={
        "Content-Type": "application/json", "X-Hub-Signature-256": github_signature(b"{}")})
    assert resp.status == 202, await resp.text()
    # Refusals are recorded up to the webhook's rate a minute, the rest only answered.
    assert [d["status"] for d in await deliveries_of(admin, webhook)] == [202] + [401] * RATE


async def test_a_body_over_the_limit_is_413_and_starts_nothing(
        admin: TestClient, anon: TestClient) -> None:
    webhook = await webhook_for(admin, {"auth": "none"})
    resp = await anon.post(webhook["url"], data=b"x" * (MAX_BODY + 1),
                           headers={"Content-Type": "text/plain"})
    assert resp.status == 413
    assert await runs_of(admin, webhook["id"]) == []

    async def chunked():  # no Content-Length: the limit holds while reading
        for _ in range(4):
            yield b"y" * (MAX_BODY // 2)

    resp = await anon.post(webhook["url"], data=chunked(),
                           headers={"Content-Type": "text/plain"})
    assert resp.status == 413
    assert await runs_of(admin, webhook["id"]) == []
    assert [d["status"] for d in await deliveries_of(admin, webhook)] == [413, 413]


@pytest.mark.parametrize(("content_type", "raw", "parsed"), [
    ("application/json", b'{"a": [1, 2]}', {"a": [1, 2]}),
    ("application/x-www-form-urlencoded", b"a=1&b=two&b=three", {"a": "1",
                                                                 "b": ["two", "three"]}),
    ("text/plain", b"just text", "just text"),
    ("application/json", b"", None),
])
async def test_the_body_reaches_the_run_parsed_by_its_type(
        admin: TestClient, anon: TestClient, content_type: str, raw: bytes,
        parsed: object) -> None:
    webhook = await webhook_for(admin, {"auth": "none"})
    resp = await anon.put(webhook["url"], data=raw, headers={"Content-Type": content_type})
    answer = await resp.json()
    assert resp.status == 202, answer
    run = await wait_for_status(admin, answer["runId"], "completed")
    assert run["outputs"]["echo"]["body"] == parsed
    assert run["outputs"]["echo"]["method"] == "PUT"


async def test_a_body_that_says_json_and_is_not_is_400(admin: TestClient,
                                                        anon: TestClient) -> None:
    webhook = await webhook_for(admin, {"auth": "none"})
    resp = await anon.post(webhook["url"], data=b"{nope",
                           headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert await runs_of(admin, webhook["id"]) == []


async def test_get_is_refused_unless_the_webhook_takes_it(admin: TestClient,
                                                          anon: TestClient) -> None:
    webhook = await webhook_for(admin, {"auth": "none"})
    resp = await anon.get(webhook["url"] + "?a=1")
    assert resp.status == 405
    assert resp.headers["Allow"] == "POST, PUT"
    getter = await webhook_for(admin, {"auth": "none", "methods": ["GET"]})
    resp = await anon.get(getter["url"] + "?a=1&b=2")
    answer = await resp.json()
    assert resp.status == 202, answer
    run = await wait_for_status(admin, answer["runId"], "completed")
    assert run["outputs"]["echo"]["query"] == {"a": "1", "b": "2"}
    assert run["outputs"]["echo"]["method"] == "GET"
    assert (await anon.post(getter["url"], json={})).status == 405
    assert await runs_of(admin, webhook["id"]) == []


async def test_a_cross_site_form_with_a_session_cookie_is_judged_by_the_webhook_alone(
        admin: TestClient) -> None:
    """The CSRF rule (and the session) do not apply: the webhook's auth decides."""
    webhook = await webhook_for(admin, {"auth": "none"})
    resp = await admin.post(webhook["url"], data=b"a=1", headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "Origin": "https://evil.example"})
    assert resp.status == 202, await resp.text()
    signed = await webhook_for(admin, {"auth": "token", "token": {
        "secret": "HOOK_SECRET", "header": "X-Hook-Token"}})
    resp = await admin.post(signed["url"], data=b"a=1", headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 401  # a signed-in cookie is no credential here


async def test_an_authorization_header_that_is_no_api_token_reaches_the_webhook(
        admin: TestClient, anon: TestClient) -> None:
    webhook = await webhook_for(admin, {"auth": "none"})
    resp = await anon.post(webhook["url"], json={},
                           headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert resp.status == 202
    # Elsewhere the same header is refused, as before.
    resp = await anon.get("/api/v1/auth/me", headers={"Authorization": "Bearer nope"})
    assert resp.status == 401
