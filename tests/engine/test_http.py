"""http_request: against a local server; private targets refused unless allow-listed."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from eventstore.sqlite import SQLiteEventStore
from projections.vocabulary import RunStatus
from service.engine.http_client import AddressPolicy, TargetRefused
from service.settings.engine import EngineSettings
from service.workflows import WorkflowRepository
from tests.support.engine import CountingServer, Harness, make_engine


def request(params: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": "h", "nodes": [{"id": "call", "type": "http_request", "params": params,
                                    **extra}]}


async def test_get_returns_status_headers_and_parsed_json(
    harness: Harness, counting_server: CountingServer,
) -> None:
    _, state = await harness.run(request({"url": f"{counting_server.base}/thing"}))
    output = state.output["call"]
    assert output["status"] == 200
    assert output["body"]["name"] == "thing"
    assert output["headers"]["Content-Type"].startswith("application/json")


async def test_post_sends_a_json_body_and_headers(
    harness: Harness, counting_server: CountingServer,
) -> None:
    _, state = await harness.run(request({
        "method": "POST", "url": f"{counting_server.base}/create",
        "headers": {"X-Trace": "{{inputs.trace}}"}, "body": {"n": "{{inputs.n}}"}}),
        inputs={"trace": "t-1", "n": 3})
    body = state.output["call"]["body"]
    assert body["method"] == "POST"
    assert orjson.loads(body["body"]) == {"n": 3}
    assert body["headers"]["X-Trace"] == "t-1"


async def test_a_4xx_is_output_not_failure(harness: Harness, counting_server: CountingServer,
                                           ) -> None:
    _, state = await harness.run({"name": "c", "nodes": [
        {"id": "call", "type": "http_request",
         "params": {"url": f"{counting_server.base}/x?redirect=/missing/deeper"}},
        {"id": "check", "type": "condition", "after": ["call"],
         "params": {"left": "{{nodes.call.output.status}}", "op": "eq", "right": 200}},
        {"id": "bad", "type": "transform", "after": [{"node": "check", "branch": False}],
         "params": {"value": "not found"}}]})
    assert state.status == RunStatus.COMPLETED
    assert state.output == {"bad": "not found"}


async def test_loopback_is_refused_without_the_allow_list(
    store: SQLiteEventStore, repo: WorkflowRepository, counting_server: CountingServer,
) -> None:
    engine = make_engine(store, repo, EngineSettings())
    await engine.start()
    try:
        harness = Harness(store, repo, engine)
        for url in (f"{counting_server.base}/a", f"http://localhost:{counting_server.port}/b",
                    "http://[::1]/c", "http://169.254.169.254/latest/meta-data",
                    "http://10.0.0.1/x", "file:///etc/passwd"):
            _, state = await harness.run(request({"url": url}, retry={"maxAttempts": 3}))
            assert state.status == RunStatus.FAILED, url
            assert "refused" in state.error, url
            assert state.nodes["call"].attempt == 1  # refusals are not retried
        assert counting_server.hits == {}
    finally:
        await engine.stop()


async def test_a_redirect_to_a_private_address_is_refused(
    store: SQLiteEventStore, repo: WorkflowRepository, counting_server: CountingServer,
) -> None:
    engine = make_engine(store, repo, EngineSettings(http_allow_hosts=("127.0.0.1/32",)))
    await engine.start()
    try:
        harness = Harness(store, repo, engine)
        target = f"http://127.0.0.2:{counting_server.port}/inner"
        _, state = await harness.run(request(
            {"url": f"{counting_server.base}/outer?redirect={target}"}))
        assert state.status == RunStatus.FAILED
        assert "127.0.0.2" in state.error
        assert counting_server.hits == {"outer": 1}
        _, state = await harness.run(request(
            {"url": f"{counting_server.base}/outer?redirect=/inner"}))
        assert state.status == RunStatus.COMPLETED
        assert state.output["call"]["body"]["name"] == "inner"
    finally:
        await engine.stop()


async def test_an_allow_listed_host_name_may_be_reached(
    store: SQLiteEventStore, repo: WorkflowRepository, counting_server: CountingServer,
) -> None:
    engine = make_engine(store, repo, EngineSettings(http_allow_hosts=("localhost",)))
    await engine.start()
    try:
        _, state = await Harness(store, repo, engine).run(
            request({"url": f"http://localhost:{counting_server.port}/named"}))
        assert state.status == RunStatus.COMPLETED
    finally:
        await engine.stop()


async def test_responses_over_the_cap_fail(
    store: SQLiteEventStore, repo: WorkflowRepository, counting_server: CountingServer,
) -> None:
    engine = make_engine(store, repo, EngineSettings(http_allow_hosts=("127.0.0.1",),
                                                     http_max_response_bytes=1000))
    await engine.start()
    try:
        harness = Harness(store, repo, engine)
        _, state = await harness.run(request({"url": f"{counting_server.base}/big?size=5000"}))
        assert state.status == RunStatus.FAILED and "1000-byte cap" in state.error
        _, state = await harness.run(request({"url": f"{counting_server.base}/ok?size=900"}))
        assert state.status == RunStatus.COMPLETED
    finally:
        await engine.stop()


async def test_the_request_timeout_fails_the_attempt(
    harness: Harness, counting_server: CountingServer,
) -> None:
    _, state = await harness.run(request(
        {"url": f"{counting_server.base}/slow?sleep=2", "timeoutMs": 100}))
    assert state.status == RunStatus.FAILED
    assert "timed out after 100 ms" in state.error


@pytest.mark.parametrize("address,allowed", [
    ("8.8.8.8", True), ("127.0.0.1", False), ("10.1.2.3", False), ("192.168.1.1", False),
    ("169.254.1.1", False), ("::1", False), ("fe80::1", False), ("::ffff:127.0.0.1", False),
    ("0.0.0.0", False), ("2606:4700::1111", True), ("fd00::1", False),
])
def test_the_address_policy(address: str, allowed: bool) -> None:
    policy = AddressPolicy([])
    if allowed:
        policy.check_ip(address, "h")
    else:
        with pytest.raises(TargetRefused):
            policy.check_ip(address, "h")
    AddressPolicy(["0.0.0.0/0", "::/0"]).check_ip(address, "h")
