"""The canonical run API: execute (JSON and multipart), cancel outcomes, list, dashboard, resume."""

from __future__ import annotations

import contextlib
import uuid

import aiohttp
from aiohttp.test_utils import TestClient

from tests.support.api import (
    APPROVAL_WORKFLOW,
    QUICK_WORKFLOW,
    create_workflow,
    execute,
    start_waiting_run,
    wait_for_status,
)
from tests.support.polling import wait_for


async def test_blocking_execute_with_json_returns_the_finished_run(admin: TestClient) -> None:
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    run = await execute(admin, workflow_id, n=41)
    assert run["status"] == "completed"
    assert run["workflowId"] == workflow_id
    assert run["inputs"] == [{"name": "n", "value": 41}]
    assert run["outputs"] == {"b": None}
    steps = {a["stepId"]: a for a in run["activityRuns"]}
    assert steps["a"]["outputs"] == {"n": 41}
    assert steps["a"]["attempt"] == 1
    assert steps["a"]["status"] == "completed"


async def test_blocking_execute_with_multipart_form_data(admin: TestClient) -> None:
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    form = aiohttp.FormData()
    form.add_field("workflowId", workflow_id)
    form.add_field("inputs", '{"n": 7}')
    form.add_field("envs", '{"TOKEN": "s3cret"}')
    resp = await admin.post("/api/v1/workflow-runs/execute", data=form())
    body = await resp.json()
    assert resp.status == 200, body
    assert body["data"]["status"] == "completed"
    assert body["data"]["inputs"] == [{"name": "n", "value": 7}]
    assert "s3cret" not in await resp.text()


async def test_execute_rejects_bad_bodies_without_starting_a_run(admin: TestClient) -> None:
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    cases = [
        ({}, 400),
        ({"workflowId": "not-a-uuid"}, 400),
        ({"workflowId": str(uuid.uuid4())}, 404),
        ({"workflowId": workflow_id, "inputs": [1, 2]}, 400),
        ({"workflowId": workflow_id, "envs": {"A": 1}}, 400),
    ]
    for body, status in cases:
        resp = await admin.post("/api/v1/workflow-runs/execute", json=body)
        assert resp.status == status, (body, await resp.text())
        assert "error" in await resp.json()
    resp = await admin.post(
        "/api/v1/workflow-runs/execute", data=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400
    listed = await (await admin.get("/api/v1/workflow-runs")).json()
    assert listed["pagination"]["total"] == 0


async def test_cancel_reports_an_outcome_per_run(admin: TestClient) -> None:
    waiting_wf = await create_workflow(admin, APPROVAL_WORKFLOW)
    quick_wf = await create_workflow(admin, QUICK_WORKFLOW)
    waiting = await start_waiting_run(admin, waiting_wf, x=1)
    finished = (await execute(admin, quick_wf, n=1))["id"]
    missing = str(uuid.uuid4())
    resp = await admin.post("/api/v1/workflow-runs/cancel", json={
        "runIds": [waiting, finished, missing], "reason": "no longer needed"})
    body = await resp.json()
    assert resp.status == 200, body
    outcomes = {r["runId"]: r["status"] for r in body["data"]["results"]}
    assert outcomes == {waiting: "cancelled", finished: "already_completed", missing: "not_found"}
    run = await wait_for_status(admin, waiting, "cancelled")
    assert run["cancelReason"] == "no longer needed"
    steps = {a["stepId"]: a["status"] for a in run["activityRuns"]}
    assert steps["approve"] == "cancelled"
    assert "finish" not in steps
    again = await (await admin.post(
        "/api/v1/workflow-runs/cancel", json={"runIds": [waiting]})).json()
    assert again["data"]["results"] == [{"runId": waiting, "status": "not_eligible"}]


async def test_cancel_by_workflow_cancels_only_unfinished_runs(admin: TestClient) -> None:
    workflow_id = await create_workflow(admin, APPROVAL_WORKFLOW)
    runs = [await start_waiting_run(admin, workflow_id, x=i) for i in range(3)]
    resp = await admin.post("/api/v1/workflow-runs/cancel", json={"workflowId": workflow_id})
    body = await resp.json()
    assert resp.status == 200, body
    assert sorted(r["runId"] for r in body["data"]["results"]) == sorted(runs)
    assert {r["status"] for r in body["data"]["results"]} == {"cancelled"}


async def test_cancel_validates_its_body(admin: TestClient) -> None:
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    run_id = str(uuid.uuid4())
    for body in (
        {},
        {"runIds": [run_id], "workflowId": workflow_id},
        {"runIds": []},
        {"runIds": ["nope"]},
        {"runIds": [run_id], "reason": "x" * 501},
        {"runIds": [run_id], "reason": 5},
    ):
        resp = await admin.post("/api/v1/workflow-runs/cancel", json=body)
        assert resp.status == 400, (body, await resp.text())
    resp = await admin.post(
        "/api/v1/workflow-runs/cancel", json={"runIds": [run_id], "reason": "x" * 500})
    assert resp.status == 200


async def test_list_filters_paginates_and_searches_by_workflow_name(admin: TestClient) -> None:
    quick = await create_workflow(admin, QUICK_WORKFLOW)
    other = await create_workflow(admin, {**QUICK_WORKFLOW, "name": "Nightly report"})
    for n in range(5):
        await execute(admin, quick, n=n)
    await execute(admin, other, n=0)
    waiting_wf = await create_workflow(admin, APPROVAL_WORKFLOW)
    waiting = await start_waiting_run(admin, waiting_wf, x=0)

    async def listing(query: str) -> dict:  # type: ignore[type-arg]
        resp = await admin.get(f"/api/v1/workflow-runs?{query}")
        body = await resp.json()
        assert resp.status == 200, body
        return body  # type: ignore[no-any-return]

    body = await listing(f"workflowId={quick}&limit=2&page=2")
    assert body["pagination"] == {"page": 2, "limit": 2, "total": 5, "totalPages": 3}
    assert len(body["data"]) == 2
    assert {r["workflowId"] for r in body["data"]} == {quick}
    body = await listing("search=nightly")
    assert [r["workflowId"] for r in body["data"]] == [other]
    body = await listing("search=REPORT&status=completed")
    assert body["pagination"]["total"] == 1
    body = await listing("status=waiting")
    assert [r["id"] for r in body["data"]] == [waiting]
    body = await listing("search=no-such-name")
    assert body["data"] == []
    assert body["pagination"]["total"] == 0
    everything = await listing("limit=100")
    created = [r["createdAt"] for r in everything["data"]]
    assert created == sorted(created, reverse=True)
    assert len(created) == 7
    for bad in ("limit=0", "limit=101", "page=0", "page=-1", "limit=abc", "status=done",
                "workflowId=123", "search=" + "x" * 201):
        resp = await admin.get(f"/api/v1/workflow-runs?{bad}")
        assert resp.status == 400, bad
        assert (await resp.json())["error"]["code"] == "bad_request"


async def test_dashboard_counts_follow_run_status(admin: TestClient) -> None:
    workflow_id = await create_workflow(admin, APPROVAL_WORKFLOW)
    first = await start_waiting_run(admin, workflow_id, x=1)
    await start_waiting_run(admin, workflow_id, x=2)
    resp = await admin.get(f"/api/v1/workflow-runs/dashboard/{workflow_id}")
    body = await resp.json()
    assert body["data"]["counts"]["waiting"] == 2
    assert body["data"]["total"] == 2
    await admin.post("/api/v1/workflow-runs/cancel", json={"runIds": [first]})
    await wait_for_status(admin, first, "cancelled")
    body = await (await admin.get(f"/api/v1/workflow-runs/dashboard/{workflow_id}")).json()
    assert body["data"]["counts"]["waiting"] == 1
    assert body["data"]["counts"]["cancelled"] == 1
    resp = await admin.get(f"/api/v1/workflow-runs/dashboard/{uuid.uuid4()}")
    assert resp.status == 404


async def test_approval_resume_and_reject_through_the_api(admin: TestClient) -> None:
    workflow_id = await create_workflow(admin, APPROVAL_WORKFLOW)
    approved = await start_waiting_run(admin, workflow_id, x="yes")
    url = f"/api/v1/workflow-runs/{approved}/nodes/approve/resume"
    resp = await admin.post(url, json={"approved": True, "data": {"note": "fine"}})
    assert resp.status == 200, await resp.text()
    run = await wait_for_status(admin, approved, "completed")
    assert run["outputs"] == {"finish": "yes"}
    resp = await admin.post(url, json={"approved": True})
    assert resp.status == 409
    rejected = await start_waiting_run(admin, workflow_id, x="no")
    resp = await admin.post(
        f"/api/v1/workflow-runs/{rejected}/nodes/approve/resume", json={"approved": False})
    assert resp.status == 200
    await wait_for_status(admin, rejected, "failed")
    resp = await admin.post(
        f"/api/v1/workflow-runs/{rejected}/nodes/nope/resume", json={"approved": True})
    assert resp.status in (404, 409)
    resp = await admin.post(url, json={"approved": "yes"})
    assert resp.status == 400


async def test_run_detail_rejects_bad_and_unknown_ids(admin: TestClient) -> None:
    assert (await admin.get("/api/v1/workflow-runs/not-a-uuid")).status == 400
    assert (await admin.get(f"/api/v1/workflow-runs/{uuid.uuid4()}")).status == 404
    assert (await admin.get(f"/api/v1/workflow-runs/{uuid.uuid4()}/events")).status == 404


async def test_a_client_that_leaves_a_blocking_execute_is_logged_as_499_not_500(
    admin: TestClient,
) -> None:
    import asyncio

    from structlog.testing import capture_logs

    workflow_id = await create_workflow(admin, APPROVAL_WORKFLOW)
    with capture_logs() as logs:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):  # the run waits for an approval: never answers
                await admin.post("/api/v1/workflow-runs/execute",
                                 json={"workflowId": workflow_id, "inputs": {"x": 1}})
        lines = await wait_for(
            lambda: [e for e in logs if e["event"] == "request"
                     and e["path"] == "/api/v1/workflow-runs/execute"], 2,
            "no request line for the abandoned execute")
    assert [line["status"] for line in lines] == [499]
