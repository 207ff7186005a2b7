"""GET /metrics: the Prometheus text format, parsed with prometheus-client's own parser,
whose figures match what the API says; for global admins and the scrape token only."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from service.app import create_app
from service.settings import SettingsError
from tests.support.api import QUICK_WORKFLOW, create_workflow, execute
from tests.support.auth import ADMIN_PASSWORD, USER_PASSWORD, create_user, login, make_settings
from tests.support.fake_llm import MODEL, FakeLLM, Reply, chunk, text, usage

SCRAPE_TOKEN = "scrape-token-0123456789"
FAILING_WORKFLOW = {"name": "Fails", "nodes": [
    {"id": "boom", "type": "fail", "params": {"message": "no"}}]}


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path) -> TestClient:
    settings = make_settings(tmp_path, metrics_token=SCRAPE_TOKEN)
    client: TestClient = await aiohttp_client(create_app(settings))
    await login(client, "admin", ADMIN_PASSWORD)
    return client


async def admin_token(client: TestClient) -> str:
    resp = await client.post("/api/v1/tokens", json={"name": "prometheus"})
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["data"]["token"])


async def get_metrics(client: TestClient, headers: dict[str, str]) -> tuple[int, str, str]:
    """Status, content type and body of GET /metrics sent without the client's cookie."""
    async with aiohttp.ClientSession() as session, session.get(
            client.make_url("/metrics"), headers=headers) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


async def scrape(client: TestClient, token: str) -> dict[str, list[Sample]]:
    """Every sample by name."""
    status, content_type, text = await get_metrics(client, {"Authorization": f"Bearer {token}"})
    assert status == 200, text
    assert content_type.startswith("text/plain")
    samples: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def value(samples: dict[str, list[Sample]], name: str, **labels: str) -> float:
    found = [s.value for s in samples.get(name, [])
             if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels, samples.get(name))
    return found[0]


async def test_the_counters_match_the_api(client: TestClient) -> None:
    quick = await create_workflow(client, QUICK_WORKFLOW)
    failing = await create_workflow(client, FAILING_WORKFLOW)
    for n in range(3):
        await execute(client, quick, n=n)
    await execute(client, failing)
    await client.post("/api/v1/audit/checkpoints", json={})
    samples = await scrape(client, await admin_token(client))

    for workflow in (quick, failing):
        resp = await client.get(f"/api/v1/workflow-runs/dashboard/{workflow}")
        counts = (await resp.json())["data"]
        completed = sum(v for k, v in counts.items() if k == "completed")
        failed = sum(v for k, v in counts.items() if k == "failed")
        if completed:
            assert value(samples, "runstream_runs", workflow_id=workflow,
                         status="completed") == completed
        if failed:
            assert value(samples, "runstream_runs", workflow_id=workflow,
                         status="failed") == failed
    assert value(samples, "runstream_runs", workflow_id=quick, status="completed") == 3

    head = (await (await client.get("/api/v1/audit/verify")).json())["data"]["head"]
    assert value(samples, "runstream_events_appended_total") == head
    # Each run's transform and noop completed once; every append was a group commit.
    assert value(samples, "runstream_node_duration_seconds_count", node_type="transform") == 3
    assert value(samples, "runstream_node_duration_seconds_count", node_type="noop") == 3
    assert value(samples, "runstream_commit_batch_jobs_count") >= 1
    assert value(samples, "runstream_commit_seconds_count") == \
        value(samples, "runstream_commit_batch_jobs_count")
    assert value(samples, "runstream_database_bytes") > 0
    assert 0 <= value(samples, "runstream_checkpoint_age_seconds") < 3600


async def test_the_scrape_token_reads_metrics_and_nothing_else(client: TestClient) -> None:
    samples = await scrape(client, SCRAPE_TOKEN)
    assert "runstream_events_appended_total" in samples
    async with aiohttp.ClientSession() as session, session.get(
            client.make_url("/api/v1/auth/me"),
            headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"}) as resp:
        assert resp.status == 401


async def test_streams_are_counted_by_dialect(client: TestClient) -> None:
    quick = await create_workflow(client, QUICK_WORKFLOW)
    run = await execute(client, quick, n=1)
    resp = await client.get(f"/api/v1/workflow-runs/{run['id']}/stream")
    assert resp.status == 200
    await resp.read()  # the run is finished: the stream ends after its terminal event
    samples = await scrape(client, SCRAPE_TOKEN)
    assert value(samples, "runstream_streams_ended_total", dialect="v1",
                 ending="terminal") == 1


@pytest.mark.parametrize("who", ["anonymous", "bad token", "short of the token", "user"])
async def test_everyone_else_is_refused(client: TestClient, aiohttp_client: Any,
                                        who: str) -> None:
    headers: dict[str, str] = {}
    expected = 401
    if who == "bad token":
        headers["Authorization"] = "Bearer not-the-scrape-token"
    elif who == "short of the token":
        headers["Authorization"] = f"Bearer {SCRAPE_TOKEN[:-1]}"
    elif who == "user":
        await create_user(client, "watcher")
        other: TestClient = await aiohttp_client(client.server)
        await login(other, "watcher", USER_PASSWORD)
        resp = await other.post("/api/v1/tokens", json={"name": "mine"})
        headers["Authorization"] = f"Bearer {(await resp.json())['data']['token']}"
        expected = 403
    status, _, body = await get_metrics(client, headers)
    assert status == expected, body
    assert body.startswith('{"error":'), body


async def test_the_grafana_dashboard_reads_only_series_the_service_exposes(
        client: TestClient) -> None:
    await client.post("/api/v1/audit/checkpoints", json={})
    status, _, text = await get_metrics(client, {"Authorization": f"Bearer {SCRAPE_TOKEN}"})
    families = {family.name for family in text_string_to_metric_families(text)}
    dashboard = (Path(__file__).parents[2] / "docs" / "grafana-dashboard.json").read_text()
    named = set(re.findall(r"runstream_[a-z_]+", dashboard)) - {"runstream_"}
    base = {re.sub(r"_(bucket|sum|count|total)$", "", name) for name in named}
    assert named, base - families
    assert base <= families, base - families


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLM]:
    server = FakeLLM()
    await server.start()
    yield server
    await server.stop()


async def test_model_tokens_are_counted_by_model_as_the_run_reports_them(
        aiohttp_client: Any, tmp_path: Path, llm: FakeLLM) -> None:
    settings = make_settings(tmp_path, metrics_token=SCRAPE_TOKEN,
                             engine={"http_allow_hosts": ["127.0.0.1"]})
    client: TestClient = await aiohttp_client(create_app(settings))
    await login(client, "admin", ADMIN_PASSWORD)
    llm.script(Reply([*text("billing"), chunk(finish="stop"), usage(21, 7, reasoning=5)]))
    workflow = await create_workflow(client, {"name": "Classify", "nodes": [
        {"id": "classify", "type": "agent", "params": {
            "endpoint": llm.endpoint, "model": MODEL, "prompt": "Ticket: {{inputs.text}}"}}]})
    run = await execute(client, workflow, text="refund please")
    detail = (await (await client.get(f"/api/v1/workflow-runs/{run['id']}")).json())["data"]
    reported = detail["activityRuns"][0]["outputs"]["usage"]
    samples = await scrape(client, SCRAPE_TOKEN)
    for kind in ("prompt", "completion", "reasoning"):
        assert value(samples, "runstream_model_tokens_total", model=MODEL, kind=kind) == \
            reported[f"{kind}Tokens"]
    assert reported["promptTokens"] == 21


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_metrics_listen_answers_only_metrics_and_wants_the_token(
        aiohttp_client: Any, tmp_path: Path) -> None:
    port = free_port()
    settings = make_settings(tmp_path, metrics_token=SCRAPE_TOKEN,
                             metrics_listen=f"127.0.0.1:{port}")
    await aiohttp_client(create_app(settings))
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {SCRAPE_TOKEN}"}
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/metrics", headers=auth) as resp:
            families = {f.name for f in text_string_to_metric_families(await resp.text())}
            assert resp.status == 200
            assert "runstream_events_appended" in families
        async with session.get(f"{base}/metrics") as resp:
            assert resp.status == 401
        async with session.get(f"{base}/api/v1/auth/me", headers=auth) as resp:
            assert resp.status == 404


@pytest.mark.parametrize("address", ["9326", "host:", ":9326", "host:port", "h:70000"])
def test_metrics_listen_must_be_host_and_port(tmp_path: Path, address: str) -> None:
    with pytest.raises(SettingsError, match="metrics_listen"):
        make_settings(tmp_path, metrics_listen=address)
