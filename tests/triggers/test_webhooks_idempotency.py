"""A delivery repeated (same delivery id) starts one run, even 20 at once."""

from __future__ import annotations

import asyncio

import orjson
from aiohttp.test_utils import TestClient

from tests.support.api import wait_for_status
from tests.triggers.webhook_helpers import (
    GITHUB,
    deliveries_of,
    github_signature,
    runs_of,
    webhook_for,
)

BODY = orjson.dumps({"action": "opened", "number": 7})


def signed(body: bytes, delivery: str | None = None, **extra: str) -> dict[str, str]:
    headers = {"Content-Type": "application/json",
               "X-Hub-Signature-256": github_signature(body), **extra}
    if delivery is not None:
        headers["X-GitHub-Delivery"] = delivery
    return headers


async def test_twenty_identical_concurrent_deliveries_start_exactly_one_run(
        admin: TestClient, anon: TestClient) -> None:
    webhook = await webhook_for(admin, GITHUB)

    async def deliver() -> tuple[int, str]:
        resp = await anon.post(webhook["url"], data=BODY,
                               headers=signed(BODY, "72d3162e-cc78-11e3-81ab"))
        return resp.status, (await resp.json())["runId"]

    answers = await asyncio.gather(*(deliver() for _ in range(20)))
    assert {status for status, _ in answers} == {202}
    run_ids = {run_id for _, run_id in answers}
    assert len(run_ids) == 1
    assert [run["id"] for run in await runs_of(admin, webhook["id"])] == list(run_ids)
    deliveries = await deliveries_of(admin, webhook)
    assert len(deliveries) == 20
    assert {d["runId"] for d in deliveries} == run_ids
    assert sorted(d["repeat"] for d in deliveries) == [False] + [True] * 19


async def test_a_later_repeat_names_the_first_run_and_other_ids_start_their_own(
        admin: TestClient, anon: TestClient) -> None:
    webhook = await webhook_for(admin, GITHUB)
    first = await (await anon.post(webhook["url"], data=BODY,
                                   headers=signed(BODY, "d-1"))).json()
    await wait_for_status(admin, first["runId"], "completed")
    again = await anon.post(webhook["url"], data=BODY, headers=signed(BODY, "d-1"))
    assert (again.status, (await again.json())["runId"]) == (202, first["runId"])
    other = await (await anon.post(webhook["url"], data=BODY,
                                   headers=signed(BODY, "d-2"))).json()
    assert other["runId"] != first["runId"]
    # Without a delivery id each delivery is a run of its own.
    unnamed = [await (await anon.post(webhook["url"], data=BODY,
                                      headers=signed(BODY))).json() for _ in range(2)]
    assert unnamed[0]["runId"] != unnamed[1]["runId"]
    assert len(await runs_of(admin, webhook["id"])) == 4


async def test_idempotency_key_is_read_when_the_webhook_names_no_header(
        admin: TestClient, anon: TestClient) -> None:
    webhook = await webhook_for(admin, {"auth": "none"})
    answers = [await (await anon.post(webhook["url"], json={"a": 1},
                                      headers={"Idempotency-Key": "k-1"})).json()
               for _ in range(3)]
    assert len({answer["runId"] for answer in answers}) == 1
    assert len(await runs_of(admin, webhook["id"])) == 1


async def test_the_same_delivery_id_with_another_body_is_refused(
        admin: TestClient, anon: TestClient) -> None:
    webhook = await webhook_for(admin, GITHUB)
    resp = await anon.post(webhook["url"], data=BODY, headers=signed(BODY, "d-1"))
    assert resp.status == 202
    changed = orjson.dumps({"action": "closed"})
    resp = await anon.post(webhook["url"], data=changed, headers=signed(changed, "d-1"))
    answer = await resp.json()
    assert resp.status == 422, answer
    assert answer["error"]["code"] == "idempotency_key_reused"
    assert len(await runs_of(admin, webhook["id"])) == 1


async def test_a_repeat_must_be_signed_too(admin: TestClient, anon: TestClient) -> None:
    webhook = await webhook_for(admin, GITHUB)
    resp = await anon.post(webhook["url"], data=BODY, headers=signed(BODY, "d-1"))
    assert resp.status == 202
    resp = await anon.post(webhook["url"], data=BODY, headers={
        "Content-Type": "application/json", "X-GitHub-Delivery": "d-1"})
    assert resp.status == 401
    assert "runId" not in await resp.text()
