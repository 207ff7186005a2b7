"""http_request: against a local server; private targets refused unless allow-listed."""

from __future__ import annotations

import socket
from typing import Any

import orjson
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from eventstore.sqlite import SQLiteEventStore
from projections.vocabulary import RunStatus
from service.engine.http_client import AddressPolicy, HttpClient, TargetRefused
from service.engine.node_api import NodeContext
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
        assert state.status == RunStatus.FAILED
        assert "1000-byte cap" in state.error
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


@pytest.mark.parametrize(("address", "allowed"), [
    ("8.8.8.8", True), ("127.0.0.1", False), ("10.1.2.3", False), ("192.168.1.1", False),
    ("169.254.1.1", False), ("::1", False), ("fe80::1", False), ("::ffff:127.0.0.1", False),
    ("0.0.0.0", False), ("2606:4700::1111", True), ("fd00::1", False),
    # Not private, yet not global either: carrier-grade NAT, benchmarking, documentation,
    # reserved and broadcast, multicast, and IPv6 forms that stand for such an address.
    ("100.64.0.1", False), ("100.127.255.254", False), ("198.18.0.1", False),
    ("192.0.2.1", False), ("240.0.0.1", False), ("255.255.255.255", False),
    ("224.0.0.1", False), ("::ffff:100.64.0.1", False), ("2001:db8::1", False),
    ("64:ff9b::a00:1", False), ("64:ff9b:1::1", False), ("2002:7f00:1::", False),
    ("64:ff9b::808:808", True), ("2002:808:808::", True), ("100.128.0.1", True),
])
def test_the_address_policy(address: str, allowed: bool) -> None:
    policy = AddressPolicy([])
    if allowed:
        policy.check_ip(address, "h")
    else:
        with pytest.raises(TargetRefused):
            policy.check_ip(address, "h")
    AddressPolicy(["0.0.0.0/0", "::/0"]).check_ip(address, "h")


@pytest.mark.parametrize("url", ["http://100.64.0.1/", "http://[::ffff:100.64.0.1]/",
                                 "http://198.18.0.1:8080/x"])
def test_a_literal_non_global_address_is_refused_before_any_request(url: str) -> None:
    with pytest.raises(TargetRefused):
        AddressPolicy(["127.0.0.1"]).check_url(URL(url))


class LoopbackThenSharedResolver(AbstractResolver):
    """Answers every name with 127.0.0.1 first, then a carrier-grade NAT address.

    A client that checked only what it connects to first would reach the local server
    (and be seen there), never the second address: the test sends nothing off loopback.
    """

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        return [ResolveResult(hostname=host, host=address, port=port, family=socket.AF_INET,
                              proto=0, flags=0) for address in ("127.0.0.1", "100.64.0.1")]

    async def close(self) -> None:
        return None


async def test_a_name_resolving_to_a_shared_address_is_refused_before_connecting(
    store: SQLiteEventStore, repo: WorkflowRepository, counting_server: CountingServer,
) -> None:
    settings = EngineSettings(http_allow_hosts=("127.0.0.1",))
    engine = make_engine(store, repo, settings)
    engine.http = HttpClient(settings, resolver=LoopbackThenSharedResolver)
    await engine.start()
    try:
        _, state = await Harness(store, repo, engine).run(request(
            {"url": f"http://cgnat.example:{counting_server.port}/x"}))
        assert state.status == RunStatus.FAILED
        assert "cgnat.example resolves to a non-global address (100.64.0.1)" in state.error
        assert counting_server.hits == {}
    finally:
        await engine.stop()


async def test_each_attempt_sends_an_idempotency_key_of_its_own(
    harness: Harness, counting_server: CountingServer,
) -> None:
    """The key is the same whenever one run's node attempt asks, and differs for a retry
    and for another run."""
    definition = request({"url": f"{counting_server.base}/flaky?fail_until=2"},
                         retry={"maxAttempts": 2, "backoffMs": 1})
    run_id, state = await harness.run(definition)
    assert state.status == RunStatus.COMPLETED, state.error
    await harness.run(request({"url": f"{counting_server.base}/other"}))
    keys = [headers["Idempotency-Key"] for _, headers, _ in counting_server.requests]
    assert len(set(keys)) == 3
    again = NodeContext(_Host(run_id), "call", 1, "call", "http_request")
    assert again.idempotency_key() == keys[0]


async def test_the_definitions_own_idempotency_key_is_kept(
    harness: Harness, counting_server: CountingServer,
) -> None:
    await harness.run(request({"url": f"{counting_server.base}/own",
                               "headers": {"idempotency-key": "mine-1"}}))
    ((_, headers, _),) = counting_server.requests
    assert headers["idempotency-key"] == "mine-1"
    assert len([k for k in headers if k.lower() == "idempotency-key"]) == 1


class _Host:
    """Just enough of a run for a NodeContext to name its keys."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.workspace_id = "default"
