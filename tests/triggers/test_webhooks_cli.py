"""`runstream webhooks test ID --body FILE` signs as the webhook's sender would and sends
the delivery to a running `runstream serve`; the server's answer is what it prints."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.polling import wait_for
from tests.support.server_process import (
    Api,
    ServerProcess,
    admin_token,
    create_workflow,
    run_cli,
)

SECRET = "cli-signing-key-5d1c"
ECHO = {"name": "Echo for the CLI", "nodes": [
    {"id": "echo", "type": "transform", "params": {"value": "{{trigger.data.body}}"}}]}
BODY = b'{"action": "opened", "number": 7}'
HOOKS = {
    "github": {"auth": "hmac", "idempotencyHeader": "X-GitHub-Delivery",
               "hmac": {"secret": "CLI_KEY"}},
    "stripe": {"auth": "hmac", "hmac": {"secret": "CLI_KEY", "format": "stripe"}},
    "slack-like": {"auth": "hmac", "hmac": {
        "secret": "CLI_KEY", "algorithm": "sha512", "format": "base64", "prefix": "",
        "header": "X-Signature", "timestampHeader": "X-Timestamp"}},
    "token": {"auth": "token", "token": {"secret": "CLI_KEY"}},
    "token header": {"auth": "token", "token": {"secret": "CLI_KEY", "header": "X-Token"}},
    "lastNode": {"auth": "token", "token": {"secret": "CLI_KEY"}, "responseMode": "lastNode"},
    "stream": {"auth": "token", "token": {"secret": "CLI_KEY"}, "responseMode": "stream"},
}


@dataclass
class Served:
    server: ServerProcess
    api: Api
    workflow: str
    hooks: dict[str, str]
    body: Path


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    server = ServerProcess(tmp_path / "data")
    await server.start()
    api = Api(server.base, await admin_token(server.base))
    try:
        status, answer = await api.request(
            "PUT", "/api/v1/workspaces/default/secrets/CLI_KEY", json={"value": SECRET})
        assert status == 201, answer
        workflow = await create_workflow(api, ECHO)
        hooks = {}
        for name, fields in HOOKS.items():
            status, answer = await api.request(
                "POST", f"/api/v1/workflows/{workflow}/webhooks", json=fields)
            assert status == 201, answer
            hooks[name] = answer["data"]["id"]
        body = tmp_path / "body.json"
        body.write_bytes(BODY)
        yield Served(server, api, workflow, hooks, body)
    finally:
        await api.close()
        await server.stop()


async def _test(served: Served, hook: str, *extra: str) -> tuple[int, dict[str, Any]]:
    code, out = await run_cli("webhooks", "test", hook, "--body", str(served.body),
                              "--url", served.server.base, *extra,
                              data_dir=served.server.data_dir)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert lines, out
    return code, json.loads(lines[-1])


async def _completed(served: Served, run_id: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        status, answer = await served.api.request("GET", f"/api/v1/workflow-runs/{run_id}")
        assert status == 200, answer
        return answer["data"] if answer["data"]["status"] == "completed" else None

    return await wait_for(done, 30, f"the test delivery's run {run_id} never completed")


async def _runs(served: Served) -> list[dict[str, Any]]:
    status, answer = await served.api.request(
        "GET", f"/api/v1/workflow-runs?workflowId={served.workflow}")
    assert status == 200, answer
    return list(answer["data"])


@pytest.mark.slow
async def test_a_signed_test_delivery_starts_a_run_for_every_kind_of_auth(
        served: Served) -> None:
    for kind, hook in served.hooks.items():
        code, printed = await _test(served, hook)
        run_id = printed["runId"]
        if kind == "stream":  # the run's v1 stream, read to its end; the run id in a header
            assert (code, printed["status"]) == (0, 200), printed
            assert "event: result" in printed["answer"]
            assert run_id in printed["answer"]
        elif kind == "lastNode":  # the run's output
            assert (code, printed["status"]) == (0, 200), printed
            assert printed["answer"]["output"] == {"echo": json.loads(BODY)}
        else:
            assert (code, printed["status"]) == (0, 202), (kind, printed)
        if kind != "stream":
            assert printed["answer"]["runId"] == run_id
        run = await _completed(served, run_id)
        assert run["triggeredBy"] == {"kind": "webhook", "id": hook}
        assert run["activityRuns"][0]["outputs"] == json.loads(BODY)  # the bytes, parsed


@pytest.mark.slow
async def test_a_wrong_secret_is_refused_and_a_repeated_delivery_id_names_one_run(
        served: Served) -> None:
    hook = served.hooks["github"]
    code, printed = await _test(served, hook, "--secret-value", "guess")
    assert (code, printed["status"], printed["runId"]) == (1, 401, None), printed
    assert printed["answer"]["error"]["code"] == "unauthorized"
    assert await _runs(served) == []
    first = await _test(served, hook, "--delivery-id", "d-1")
    again = await _test(served, hook, "--delivery-id", "d-1")
    assert first[0] == again[0] == 0
    assert first[1]["runId"] == again[1]["runId"]
    code, printed = await _test(served, hook, "--secret", SECRET, "--delivery-id", "d-2")
    assert code == 0, printed  # the value given on the command line signs the same
    assert sorted(run["id"] for run in await _runs(served)) == sorted(
        [first[1]["runId"], printed["runId"]])


@pytest.mark.slow
async def test_what_cannot_be_signed_here_is_not_sent(served: Served, tmp_path: Path) -> None:
    code, out = await run_cli("webhooks", "test", "00000000-0000-4000-8000-000000000000",
                              "--body", str(served.body), "--url", served.server.base,
                              data_dir=served.server.data_dir)
    assert code == 2
    assert "no webhook" in out
    code, out = await run_cli("webhooks", "test", served.hooks["github"], "--body",
                              str(tmp_path / "missing.json"), data_dir=served.server.data_dir)
    assert code == 2
    assert "cannot read --body" in out
    status, answer = await served.api.request(
        "DELETE", "/api/v1/workspaces/default/secrets/CLI_KEY")
    assert status == 200, answer
    code, out = await run_cli("webhooks", "test", served.hooks["github"], "--body",
                              str(served.body), "--url", served.server.base,
                              data_dir=served.server.data_dir)
    assert code == 2
    assert "--secret-value" in out
    assert await _runs(served) == []
