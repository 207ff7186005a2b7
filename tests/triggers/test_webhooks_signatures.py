"""Deliveries to /hooks/{id}: signatures over the raw bytes, tokens, and what refuses a
delivery before any run starts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from service.settings import Settings
from tests.support.api import wait_for_status
from tests.triggers.webhook_helpers import (
    GITHUB,
    SECRET,
    SECRET_NAME,
    STRIPE,
    deliveries_of,
    github_signature,
    runs_of,
    stripe_signature,
    webhook_for,
)

BODY = orjson.dumps({"action": "opened", "number": 7})
JSON = {"Content-Type": "application/json"}


async def test_a_github_style_signature_starts_a_run_with_the_delivery_as_its_data(
        admin: TestClient, anon: TestClient) -> None:
    webhook = await webhook_for(admin, GITHUB)
    resp = await anon.post(webhook["url"] + "?source=gh", data=BODY, headers={
        **JSON, "X-Hub-Signature-256": github_signature(BODY),
        "X-GitHub-Delivery": "d-1", "X-GitHub-Event": "issues", "Cookie": "a=b",
        "X-Hub-Signature": "sha1=0123"})  # GitHub's older signature, sent beside
    answer = await resp.json()
    assert resp.status == 202, answer
    assert answer["streamUrl"] == f"/api/v1/workflow-runs/{answer['runId']}/stream"
    run = await wait_for_status(admin, answer["runId"], "completed")
    assert run["triggeredBy"] == {"kind": "webhook", "id": webhook["id"]}
    echo = run["outputs"]["echo"]
    # The body over the workflow's staticData; staticData's other keys stay.
    assert (echo["action"], echo["priority"], echo["method"]) == ("opened", "normal", "POST")
    assert echo["query"] == {"source": "gh"}
    assert echo["headers"]["x-github-event"] == "issues"
    for hidden in ("x-hub-signature-256", "x-hub-signature", "cookie", "authorization"):
        assert hidden not in echo["headers"]
    assert [(d["status"], d["signature"], d["runId"]) for d in
            await deliveries_of(admin, webhook)] == [(202, "valid", answer["runId"])]


async def test_a_stripe_style_signature_starts_a_run(admin: TestClient,
                                                     anon: TestClient) -> None:
    webhook = await webhook_for(admin, STRIPE)
    resp = await anon.post(webhook["url"], data=BODY, headers={
        **JSON, "Stripe-Signature": stripe_signature(BODY)})
    assert resp.status == 202, await resp.text()
    assert [run["id"] for run in await runs_of(admin, webhook["id"])] == [
        (await resp.json())["runId"]]


async def test_a_stripe_delivery_replayed_within_its_window_names_the_first_run(
        admin: TestClient, anon: TestClient) -> None:
    """Stripe sends no delivery id: the signed timestamp and signature stand in for one."""
    webhook = await webhook_for(admin, STRIPE)
    headers = {**JSON, "Stripe-Signature": stripe_signature(BODY)}
    first = await anon.post(webhook["url"], data=BODY, headers=headers)
    assert first.status == 202, await first.text()
    replay = await anon.post(webhook["url"], data=BODY, headers=headers)
    assert replay.status == 202, await replay.text()
    assert (await replay.json())["runId"] == (await first.json())["runId"]
    assert len(await runs_of(admin, webhook["id"])) == 1
    # A new signing (another timestamp) is another delivery.
    later = await anon.post(webhook["url"], data=BODY, headers={
        **JSON, "Stripe-Signature": stripe_signature(BODY, at=time.time() + 1)})
    assert later.status == 202, await later.text()
    assert len(await runs_of(admin, webhook["id"])) == 2


def _tampered(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body.replace(b"7", b"8"), {"X-Hub-Signature-256": github_signature(body)}


REFUSALS: dict[str, tuple[dict[str, Any], Any, str]] = {
    # name: (webhook, body + headers the sender sends, the delivery's signature result)
    "tampered body": (GITHUB, lambda b: _tampered(b), "invalid"),
    "wrong secret": (GITHUB, lambda b: (b, {
        "X-Hub-Signature-256": github_signature(b, "not-the-secret")}), "invalid"),
    "missing header": (GITHUB, lambda b: (b, {}), "missing"),
    "not hex": (GITHUB, lambda b: (b, {"X-Hub-Signature-256": "sha256=zz"}), "invalid"),
    "no prefix": (GITHUB, lambda b: (b, {
        "X-Hub-Signature-256": github_signature(b).removeprefix("sha256=")}), "invalid"),
    "stripe replayed outside its window": (STRIPE, lambda b: (b, {
        "Stripe-Signature": stripe_signature(b, time.time() - 301)}), "stale"),
    "stripe from the future": (STRIPE, lambda b: (b, {
        "Stripe-Signature": stripe_signature(b, time.time() + 600)}), "stale"),
    "stripe tampered": (STRIPE, lambda b: (b + b" ", {
        "Stripe-Signature": stripe_signature(b)}), "invalid"),
    "stripe malformed": (STRIPE, lambda b: (b, {"Stripe-Signature": "v1=abc"}), "invalid"),
    "stale timestamp header": (
        {"auth": "hmac", "hmac": {"secret": SECRET_NAME, "timestampHeader": "X-Timestamp",
                                  "toleranceS": 60}},
        lambda b: (b, _timestamped(b, time.time() - 120)), "stale"),
    "timestamp header missing": (
        {"auth": "hmac", "hmac": {"secret": SECRET_NAME, "timestampHeader": "X-Timestamp"}},
        lambda b: (b, {"X-Hub-Signature-256": github_signature(b)}), "missing"),
    "wrong token": ({"auth": "token", "token": {"secret": SECRET_NAME}},
                    lambda b: (b, {"Authorization": "Bearer not-it"}), "invalid"),
    "token without bearer": ({"auth": "token", "token": {"secret": SECRET_NAME}},
                             lambda b: (b, {"Authorization": SECRET}), "invalid"),
    "token missing": ({"auth": "token", "token": {"secret": SECRET_NAME}},
                      lambda b: (b, {}), "missing"),
}


def _timestamped(body: bytes, at: float) -> dict[str, str]:
    import hashlib
    import hmac

    t = str(int(at))
    digest = hmac.new(SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Timestamp": t, "X-Hub-Signature-256": f"sha256={digest}"}


@pytest.mark.parametrize("case", sorted(REFUSALS))
async def test_a_bad_delivery_is_refused_with_401_and_starts_nothing(
        admin: TestClient, anon: TestClient, case: str) -> None:
    config, make, result = REFUSALS[case]
    webhook = await webhook_for(admin, config)
    body, headers = make(BODY)
    resp = await anon.post(webhook["url"], data=body, headers={**JSON, **headers})
    answer = await resp.json()
    assert resp.status == 401, answer
    assert answer["error"]["code"] == "unauthorized"
    assert await runs_of(admin, webhook["id"]) == []
    [delivery] = await deliveries_of(admin, webhook)
    assert (delivery["status"], delivery["signature"], delivery["runId"]) == (401, result, None)


async def test_a_timestamped_signature_within_its_window_is_accepted(
        admin: TestClient, anon: TestClient) -> None:
    webhook = await webhook_for(admin, {"auth": "hmac", "hmac": {
        "secret": SECRET_NAME, "timestampHeader": "X-Timestamp", "toleranceS": 60}})
    resp = await anon.post(webhook["url"], data=BODY,
                           headers={**JSON, **_timestamped(BODY, time.time() - 30)})
    assert resp.status == 202, await resp.text()


@pytest.mark.parametrize("header", ["Authorization", "X-Gitlab-Token"])
async def test_a_token_in_its_header_is_accepted(admin: TestClient, anon: TestClient,
                                                 header: str) -> None:
    webhook = await webhook_for(admin, {"auth": "token",
                                        "token": {"secret": SECRET_NAME, "header": header}})
    value = f"Bearer {SECRET}" if header == "Authorization" else SECRET
    resp = await anon.post(webhook["url"], data=BODY, headers={**JSON, header: value})
    answer = await resp.json()
    assert resp.status == 202, answer
    run = await wait_for_status(admin, answer["runId"], "completed")
    assert header.lower() not in run["outputs"]["echo"]["headers"]


async def test_a_disabled_webhook_answers_403_and_starts_nothing(
        admin: TestClient, anon: TestClient) -> None:
    webhook = await webhook_for(admin, {**GITHUB, "enabled": False})
    resp = await anon.post(webhook["url"], data=BODY, headers={
        **JSON, "X-Hub-Signature-256": github_signature(BODY)})
    assert resp.status == 403, await resp.text()
    assert await runs_of(admin, webhook["id"]) == []
    assert [d["status"] for d in await deliveries_of(admin, webhook)] == [403]


async def test_a_deleted_secret_refuses_deliveries(admin: TestClient,
                                                   anon: TestClient) -> None:
    webhook = await webhook_for(admin, GITHUB)
    resp = await admin.delete(f"/api/v1/workspaces/default/secrets/{SECRET_NAME}", json={})
    assert resp.status == 200
    resp = await anon.post(webhook["url"], data=BODY, headers={
        **JSON, "X-Hub-Signature-256": github_signature(BODY)})
    assert resp.status == 401
    assert await runs_of(admin, webhook["id"]) == []


def database_files(data_dir: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in data_dir.iterdir()
            if path.name.startswith("runstream.db")}


@pytest.mark.parametrize("webhook_id", [
    "00000000-0000-4000-8000-000000000000", "not-a-uuid", "%00", "a" * 300])
async def test_an_unknown_webhook_is_404(anon: TestClient, webhook_id: str) -> None:
    resp = await anon.post(f"/hooks/{webhook_id}", data=BODY, headers=JSON)
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"


async def test_the_secret_value_is_never_stored_in_plain_text(
        admin: TestClient, anon: TestClient, auth_settings: Settings) -> None:
    webhook = await webhook_for(admin, GITHUB)
    resp = await anon.post(webhook["url"], data=BODY, headers={
        **JSON, "X-Hub-Signature-256": github_signature(BODY), "X-GitHub-Delivery": "d-9"})
    await wait_for_status(admin, (await resp.json())["runId"], "completed")
    files = database_files(auth_settings.data_dir)
    assert "runstream.db" in files
    for name, content in files.items():  # the database, its WAL and shared memory
        assert SECRET.encode() not in content, name
    listed = await (await admin.get(f"/api/v1/workflows/{webhook['workflowId']}"
                                    "/webhooks")).text()
    assert SECRET not in listed
