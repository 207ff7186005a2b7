"""Helpers for the canonical API tests: workflows, runs, and waiting for a run's state."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.support.polling import wait_for

APPROVAL_WORKFLOW: dict[str, Any] = {
    "name": "Needs approval",
    "nodes": [
        {"id": "prepare", "type": "transform", "params": {"value": {"x": "{{inputs.x}}"}}},
        {"id": "approve", "type": "approval", "after": ["prepare"],
         "params": {"prompt": "ship it?"}},
        {"id": "finish", "type": "transform", "after": ["approve"],
         "params": {"value": "{{nodes.prepare.output.x}}"}},
    ],
}

QUICK_WORKFLOW: dict[str, Any] = {
    "name": "Quick sum",
    "nodes": [
        {"id": "a", "type": "transform", "params": {"value": {"n": "{{inputs.n}}"}}},
        {"id": "b", "type": "noop", "after": ["a"]},
    ],
}


async def create_workflow(client: TestClient, definition: dict[str, Any]) -> str:
    resp = await client.post("/api/v1/workflows", json=definition)
    body = await resp.json()
    assert resp.status == 201, body
    return str(body["data"]["id"])


async def execute(client: TestClient, workflow_id: str, **inputs: Any) -> dict[str, Any]:
    resp = await client.post(
        "/api/v1/workflow-runs/execute", json={"workflowId": workflow_id, "inputs": inputs}
    )
    body = await resp.json()
    assert resp.status == 200, body
    return dict(body["data"])


async def start_waiting_run(
    client: TestClient, workflow_id: str, workspace_id: str = "default", **inputs: Any
) -> str:
    """Start an approval run in the background; returns once its node is waiting."""
    app = client.server.app
    assert app is not None
    from service import keys

    engine = app[keys.ENGINE]
    run_id = await engine.start_run(workflow_id, workspace_id, inputs, {}, "test")
    await wait_for_status(client, run_id, "waiting")
    return run_id


async def wait_for_status(
    client: TestClient, run_id: str, status: str, within_s: float = 10.0
) -> dict[str, Any]:
    """Poll the run detail until it shows `status` (v1 words)."""
    seen: list[Any] = []

    async def reached() -> dict[str, Any] | None:
        resp = await client.get(f"/api/v1/workflow-runs/{run_id}")
        seen[:] = [await resp.json()]
        if resp.status == 200 and seen[0]["data"]["status"] == status:
            return dict(seen[0]["data"])
        return None

    return await wait_for(reached, within_s, lambda: f"run {run_id} never reached {status}: {seen}")
