"""POST /api/v1/workflow-runs/{id}/rerun: a finished run again, whole or from one node, linked
to the original both ways; reused nodes are not executed again (a counting http_request
target proves it), either version of the workflow may be used, and a run still going is
refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from service.settings import Settings
from tests.support.api import APPROVAL_WORKFLOW, create_workflow, wait_for_status
from tests.support.auth import make_settings
from tests.support.engine import CountingServer


@pytest.fixture
def auth_settings(tmp_path: Path) -> Settings:
    # The counting target listens on loopback, which http_request refuses by default.
    return make_settings(tmp_path, engine={"http_allow_hosts": ["127.0.0.1/32"]})


def fetch_then_decide(base: str) -> dict[str, Any]:
    """fetch (counted) -> check {{inputs.ok}}: true -> finish (reads fetch), false -> stop."""
    return {"name": "Fetch then decide", "nodes": [
        {"id": "fetch", "type": "http_request", "params": {"method": "GET", "url": f"{base}/fetch"}},
        {"id": "check", "type": "condition", "after": ["fetch"],
         "params": {"left": "{{inputs.ok}}", "op": "eq", "right": True}},
        {"id": "finish", "type": "transform", "after": [{"node": "check", "branch": True}],
         "params": {"value": {"status": "{{nodes.fetch.output.status}}", "v": 1}}},
        {"id": "stop", "type": "fail", "after": [{"node": "check", "branch": False}],
         "params": {"message": "not ok"}},
    ]}


async def run_to_end(client: TestClient, workflow_id: str, inputs: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post("/api/v1/workflow-runs/execute",
                             json={"workflowId": workflow_id, "inputs": inputs})
    body = await resp.json()
    assert resp.status == 200, body
    return dict(body["data"])


async def rerun(client: TestClient, run_id: str, body: dict[str, Any],
                expect: int = 201) -> dict[str, Any]:
    resp = await client.post(f"/api/v1/workflow-runs/{run_id}/rerun", json=body)
    answer = await resp.json()
    assert resp.status == expect, answer
    return dict(answer)


async def detail(client: TestClient, run_id: str) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/workflow-runs/{run_id}")
    assert resp.status == 200
    return dict((await resp.json())["data"])


async def events(client: TestClient, run_id: str) -> list[dict[str, Any]]:
    resp = await client.get(f"/api/v1/workflow-runs/{run_id}/events")
    assert resp.status == 200
    return list((await resp.json())["data"])


def node(run: dict[str, Any], node_id: str) -> dict[str, Any]:
    return next(a for a in run["activityRuns"] if a["stepId"] == node_id)


async def test_a_rerun_from_a_node_reuses_upstream_outputs_without_running_them(
    admin: TestClient, counting_server: CountingServer
) -> None:
    workflow_id = await create_workflow(admin, fetch_then_decide(counting_server.base))
    original = await run_to_end(admin, workflow_id, {"ok": False})
    assert original["status"] == "failed"
    assert counting_server.hits["fetch"] == 1

    started = (await rerun(admin, original["id"], {"fromNode": "check", "inputs": {"ok": True}}))["data"]
    assert started["rerunOf"] == {"runId": original["id"], "fromNode": "check"}
    done = await wait_for_status(admin, started["id"], "completed")
    assert counting_server.hits["fetch"] == 1  # fetch was not run again
    assert done["outputs"] == {"finish": {"status": 200, "v": 1}}
    assert node(done, "fetch")["outputs"] == node(original, "fetch")["outputs"]
    assert node(done, "check")["status"] == "completed"
    assert node(done, "stop")["status"] == "skipped"

    # The log says where the reused output came from, and it comes before the run starts.
    before = await events(admin, original["id"])
    fetched = next(e for e in before if e["type"] == "NodeCompleted" and e["data"]["nodeId"] == "fetch")
    log = await events(admin, started["id"])
    assert log[0]["data"]["rerunOf"] == {
        "runId": original["id"], "fromNode": "check", "reused": {"fetch": fetched["position"]}}
    assert [e["type"] for e in log[:4]] == ["RunCreated", "NodeStarted", "NodeCompleted", "RunStarted"]
    assert log[2]["data"]["output"] == fetched["data"]["output"]
    # Both ends of the link show it, and a rerun of the rerun extends the chain.
    assert (await detail(admin, original["id"]))["reruns"] == [started["id"]]
    again = (await rerun(admin, started["id"], {"fromNode": "finish"}))["data"]
    await wait_for_status(admin, again["id"], "completed")
    assert counting_server.hits["fetch"] == 1
    assert (await detail(admin, started["id"]))["rerunOf"]["runId"] == original["id"]
    assert (await detail(admin, started["id"]))["reruns"] == [again["id"]]


async def test_a_rerun_without_a_node_is_a_fresh_run_with_the_same_inputs(
    admin: TestClient, counting_server: CountingServer
) -> None:
    workflow_id = await create_workflow(admin, fetch_then_decide(counting_server.base))
    original = await run_to_end(admin, workflow_id, {"ok": True})
    started = (await rerun(admin, original["id"], {}))["data"]
    assert started["rerunOf"] == {"runId": original["id"], "fromNode": None}
    done = await wait_for_status(admin, started["id"], "completed")
    assert counting_server.hits["fetch"] == 2
    assert done["inputs"] == original["inputs"] == [{"name": "ok", "value": True}]
    log = await events(admin, started["id"])
    assert log[0]["data"]["rerunOf"]["reused"] == {}


async def test_a_rerun_after_a_new_version_runs_the_version_asked_for(
    admin: TestClient, counting_server: CountingServer
) -> None:
    definition = fetch_then_decide(counting_server.base)
    workflow_id = await create_workflow(admin, definition)
    original = await run_to_end(admin, workflow_id, {"ok": True})
    definition["nodes"][2]["params"]["value"]["v"] = 2
    definition["nodes"].append({"id": "extra", "type": "noop", "after": ["finish"]})
    resp = await admin.put(f"/api/v1/workflows/{workflow_id}", json=definition)
    assert resp.status == 200, await resp.text()

    as_ran = (await rerun(admin, original["id"], {"fromNode": "finish", "version": "original"}))["data"]
    as_ran = await wait_for_status(admin, as_ran["id"], "completed")
    assert as_ran["workflowVersion"] == 1
    assert as_ran["outputs"] == {"finish": {"status": 200, "v": 1}}
    latest = (await rerun(admin, original["id"], {"fromNode": "finish", "version": "latest"}))["data"]
    latest = await wait_for_status(admin, latest["id"], "completed")
    assert latest["workflowVersion"] == 2
    assert latest["outputs"] == {"extra": None}
    assert node(latest, "finish")["outputs"] == {"status": 200, "v": 2}
    assert counting_server.hits["fetch"] == 1  # reused by both
    # A node only the latest version has is refused for the original one, naming it.
    refused = await rerun(admin, original["id"], {"fromNode": "extra"}, expect=400)
    assert refused["error"]["details"] == {"nodeIds": ["extra"]}
    assert (await detail(admin, original["id"]))["reruns"] == [as_ran["id"], latest["id"]]


async def test_a_run_still_going_is_refused_and_nothing_is_started(admin: TestClient) -> None:
    workflow_id = await create_workflow(admin, APPROVAL_WORKFLOW)
    resp = await admin.post("/api/v1/workflow-runs/execute/stream",
                            json={"workflowId": workflow_id, "inputs": {"x": 1}})
    run_id = resp.headers["X-Workflow-Run-Id"]
    resp.close()
    await wait_for_status(admin, run_id, "waiting")
    refused = await rerun(admin, run_id, {"fromNode": "finish"}, expect=409)
    assert refused["error"]["code"] == "conflict"
    listed = await admin.get(f"/api/v1/workflow-runs?workflowId={workflow_id}")
    assert (await listed.json())["pagination"]["total"] == 1
    assert (await detail(admin, run_id))["reruns"] == []


@pytest.mark.parametrize("body", [
    {"version": "newest"}, {"fromNode": ""}, {"inputs": [1]}, {"fromNode": 3}, {"version": None},
])
async def test_a_bad_rerun_body_is_400(admin: TestClient, body: dict[str, Any]) -> None:
    workflow_id = await create_workflow(admin, APPROVAL_WORKFLOW)
    resp = await admin.post("/api/v1/workflow-runs/execute/stream",
                            json={"workflowId": workflow_id, "inputs": {}})
    run_id = resp.headers["X-Workflow-Run-Id"]
    resp.close()
    refused = await rerun(admin, run_id, body, expect=400)
    assert refused["error"]["code"] == "bad_request"
