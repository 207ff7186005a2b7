"""Helpers for the dialect tests: the admin's session, stream reading, the seeds' examples.

The seed documents' own example frames and bodies (../shared/seeds/000-003) are copied
here verbatim as the golden fixtures; `assert_shape` compares what the service emits
with them key by key and JSON type by JSON type.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp.test_utils import TestClient

from service.app import create_app
from service.settings import Settings
from tests.support.auth import (
    ADMIN_PASSWORD,
    USER_PASSWORD,
    ClientFactory,
    bearer,
    create_token,
    create_user,
    login,
)
from tests.support.polling import wait_for
from tests.support.sse import SSEFrame, iter_frames

# -- the seeds' examples ---------------------------------------------------------------

# Seed 000: the example stream, frame by frame.
SEED_000_STREAM = """\
data: {"type":"run_started","runId":"run-uuid","workflowId":"workflow-uuid"}

data: {"type":"step_started","stepId":"step-1","toolId":"exa-web-search"}

data: {"type":"step_progress","stepId":"step-1","progress":50,"message":"Searching..."}

data: {"type":"step_completed","stepId":"step-1","result":{"items":[]}}

data: {"type":"step_started","stepId":"step-2","toolId":"summarize"}

data: {"type":"step_completed","stepId":"step-2","result":{"summary":"..."}}

data: {"type":"run_completed","runId":"run-uuid","status":"completed"}

"""
# Seed 000's event table: the fields of the two frames its example does not show.
SEED_000_FIELDS = {
    "step_failed": ["stepId", "error"],
    "run_failed": ["runId", "error"],
}
SEED_000_ERRORS = {400, 401, 403, 404}

# Seed 001: the example response body.
SEED_001_BODY = orjson.loads("""{
  "data": {
    "workflowRuns": [
      {
        "id": "run-uuid-1",
        "chatId": "550e8400-e29b-41d4-a716-446655440000",
        "workflowId": "workflow-uuid-1",
        "status": "completed",
        "startedAt": "2024-02-04T12:00:00.000Z",
        "completedAt": "2024-02-04T12:01:30.000Z",
        "steps": [
          {
            "id": "step-1",
            "status": "completed",
            "startedAt": "2024-02-04T12:00:00.000Z",
            "completedAt": "2024-02-04T12:00:45.000Z"
          }
        ]
      }
    ]
  }
}""")
SEED_001_RUN_STATUSES = {"pending", "running", "completed", "failed", "cancelled"}

# Seed 002: the example frames, and the payloads of its event table.
SEED_002_FRAMES = """\
event: node_start
data: {"nodeId":"agent-1","nodeName":"Classify ticket","nodeType":"agent"}

event: complete
data: {"success":true,"executionId":"exec-abc123"}

"""
SEED_002_TERMINAL = {
    "complete": {"success": True, "executionId": "exec-abc123", "error": None,
                 "cancelled": False},
    "error": {"success": False, "executionId": "exec-abc123", "error": "<message>",
              "cancelled": False},
    "cancelled": {"success": False, "executionId": "exec-abc123",
                  "error": "Execution cancelled by user", "cancelled": True},
}
SEED_002_START_KEYS = {"workflowId", "workflowName", "timestamp"}
SEED_002_LOG_KEYS = {"nodeId", "nodeName", "nodeType", "status", "input", "output",
                     "durationMs", "error"}

# Seed 003: the full example event, and the short one of "Response Format".
SEED_003_EVENT = orjson.loads("""{
  "workflow_request": {
    "id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
    "workflow_version_id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
    "start_node_id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
    "status": "pending",
    "created_at": "2023-11-07T05:31:56Z",
    "user_id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
    "billing_user_id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
    "parent_node_execution_id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
    "parent_workflow_request_id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
    "chat_id": "<string>",
    "payload": {},
    "metadata": {},
    "started_at": "2023-11-07T05:31:56Z",
    "completed_at": "2023-11-07T05:31:56Z"
  },
  "node_execution": {
    "id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
    "workflow_request_id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
    "node_id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
    "workflow_version_id": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
    "status": "pending",
    "input_data": {},
    "output_data": {},
    "attempt_count": 123,
    "created_at": "2023-11-07T05:31:56Z",
    "completed_at": "2023-11-07T05:31:56Z",
    "failed_at": "2023-11-07T05:31:56Z"
  }
}""")
SEED_003_SHORT = orjson.loads("""{
  "workflow_request": {
    "id": "0199f123-d60e-7ffd-9131-4cc5ab040ee8",
    "status": "in_progress",
    "workflow_version_id": "0199e001-a23b-7c8d-1234-567890abcdef"
  },
  "node_execution": {
    "id": "0199f124-e70f-8gge-2242-5dd6bc151ff9",
    "node_id": "0199e002-b34c-8d9e-2345-678901bcdef0",
    "status": "completed",
    "output_data": { "text": "Here is the result..." }
  }
}""")
SEED_003_REQUEST_STATUSES = {"pending", "in_progress", "waiting", "completed", "failed",
                             "stopped"}
SEED_003_NODE_STATUSES = {"pending", "in_progress", "completed", "failed", "blocked",
                          "skipped", "stopped", "waiting"}


def seed_frames(text: str) -> list[SSEFrame]:
    """The frames of a seed's example stream, parsed like a client would."""
    from tests.support.sse import parse_lines

    return parse_lines(text.split("\n"))


def json_type(value: Any) -> str:
    """The JSON type of a decoded value (JSON has one number type)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


# Fields holding a workflow's own data (node outputs, payloads): only their JSON type is
# the seed's; what is inside is whatever the workflow made.
USER_DATA = frozenset({"result", "payload", "metadata", "input", "output", "input_data",
                       "output_data"})


def assert_shape(ours: Any, seed: Any, nullable: frozenset[str] = frozenset(),
                 path: str = "$") -> None:
    """`ours` has exactly the seed's keys, each of the seed's JSON type (recursively for
    objects; a key in `nullable` may also be null, for fields the run has not reached)."""
    assert json_type(ours) == json_type(seed), f"{path}: {ours!r} vs seed {seed!r}"
    if path.rsplit(".", 1)[-1] in USER_DATA:
        return
    if isinstance(seed, dict) and seed:
        assert set(ours) == set(seed), f"{path}: keys {sorted(ours)} vs seed {sorted(seed)}"
        for key, value in seed.items():
            if ours[key] is None and key in nullable:
                continue
            assert_shape(ours[key], value, nullable, f"{path}.{key}")
    if isinstance(seed, list) and seed:
        assert ours, f"{path}: empty, the seed has items"
        for index, item in enumerate(ours):
            assert_shape(item, seed[0], nullable, f"{path}[{index}]")


# -- the app ---------------------------------------------------------------------------

def make_app(settings: Settings) -> Any:
    return create_app(settings)


class Api:
    """The admin's cookie session, plus helpers for workflows, runs and other users."""

    def __init__(self, client: TestClient, new_client: ClientFactory) -> None:
        self.client = client
        self.new_client = new_client

    async def json(self, method: str, url: str, expect: int = 200, **kwargs: Any) -> Any:
        resp = await self.client.request(method, url, **kwargs)
        body = await resp.json()
        assert resp.status == expect, (resp.status, body)
        return body

    async def workflow(self, nodes: list[dict[str, Any]], name: str = "Dialect test",
                       trigger: dict[str, Any] | None = None) -> str:
        definition: dict[str, Any] = {"name": name, "nodes": nodes}
        if trigger is not None:
            definition["trigger"] = trigger
        body = await self.json("POST", "/api/v1/workflows", 201, json=definition)
        return str(body["data"]["id"])

    async def run(self, run_id: str) -> dict[str, Any]:
        body = await self.json("GET", f"/api/v1/workflow-runs/{run_id}")
        return dict(body["data"])

    async def wait_status(self, run_id: str, *statuses: str, within_s: float = 5) -> dict[str, Any]:
        """Poll the canonical run until its v1 status is one of `statuses`."""
        seen: dict[str, Any] = {}

        async def reached() -> dict[str, Any] | None:
            seen.update(await self.run(run_id))
            return dict(seen) if seen["status"] in statuses else None

        return await wait_for(reached, within_s,
                              lambda: f"run {run_id} still {seen.get('status')}, not {statuses}")

    async def approve(self, run_id: str, node_id: str) -> None:
        await self.json("POST", f"/api/v1/workflow-runs/{run_id}/nodes/{node_id}/resume",
                        json={"approved": True})

    async def user(self, username: str, role: str | None = "runner") -> TestClient:
        """A new non-admin user (with `role` in `default`), and a client logged in as them."""
        user = await create_user(self.client, username)
        if role is not None:
            await self.json("POST", "/api/v1/workspaces/default/members", 201,
                            json={"userId": user["id"], "role": role})
        client = await self.new_client()
        await login(client, username, USER_PASSWORD)
        return client

    async def token_headers(self) -> dict[str, str]:
        token = await create_token(self.client, "dialect-tests")
        return bearer(token["token"])


async def make_api(aiohttp_server: Any, aiohttp_client: Any, settings: Settings) -> Api:
    """A server of its own for `settings`, and the admin logged in to it."""
    server = await aiohttp_server(make_app(settings))

    async def make() -> TestClient:
        client: TestClient = await aiohttp_client(server)
        return client

    client = await make()
    await login(client, "admin", ADMIN_PASSWORD)
    return Api(client, make)


async def read_stream(
    client: TestClient, method: str, url: str, *, limit: int | None = None,
    until: Callable[[SSEFrame], bool] | None = None, within_s: float = 10,
    **kwargs: Any,
) -> tuple[int, list[SSEFrame], dict[str, str]]:
    """Status, data frames (keepalives included, retry-only frames left out) and headers.

    Reads until the server closes the stream, or `limit` frames, or `until(frame)`;
    in the latter two cases the connection is closed by the client.
    """
    resp = await client.request(method, url, **kwargs)
    frames: list[SSEFrame] = []
    try:
        if resp.status != 200 or resp.content_type != "text/event-stream":
            return resp.status, frames, dict(resp.headers)

        async def collect() -> None:
            async for frame in iter_frames(resp):
                if not frame.data_lines:
                    continue
                frames.append(frame)
                if (limit is not None and len(frames) >= limit) or (until and until(frame)):
                    return

        await asyncio.wait_for(collect(), within_s)
        return resp.status, frames, dict(resp.headers)
    finally:
        resp.close()
