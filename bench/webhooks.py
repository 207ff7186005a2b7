"""Webhook deliveries as a sender sees them: a real `runstream serve` (rate limit off) and
8 concurrent senders in this process, each sending its next delivery as soon as the last
is answered, to `immediate` webhooks of a one-node transform. Four phases of 5 s:

- `unsigned`: an `auth: none` webhook, the reference: what a delivery costs without its
  credentials (the body read, a run started, the delivery recorded);
- `hmac`: a GitHub-style signed webhook (`X-Hub-Signature-256` over the body, a new
  `X-GitHub-Delivery` each time): the secret opened, the HMAC checked, the delivery key
  claimed before the run starts;
- `repeat`: the same signed delivery again and again (one delivery id): each answers the
  first run, starting none;
- `forged`: a wrong signature: 401, nothing started, the refusal recorded.

Each prints deliveries/s and the p50 and p99 latency in ms; senders and server share the
machine's cores, so compare the phases with each other, on one machine in one sitting.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable

import aiohttp
import orjson

from bench.common import note, percentile, report, scratch_dir
from bench.requests import CLIENTS, Phase, _measure
from tests.support.server_process import ServerProcess, admin_token

PHASE_S = 5.0
SECRET = "bench-hook-secret-9c1e"
WORKFLOW = {"name": "bench-webhooks", "nodes": [
    {"id": "t", "type": "transform", "params": {"value": "{{trigger.data.body.n}}"}}]}


def _signature(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _report(name: str, phase: Phase) -> None:
    report(f"webhooks.{name}_per_s", phase.requests / phase.elapsed_s, "deliveries/s")
    report(f"webhooks.{name}_p50_ms", percentile(phase.latencies_ms, 0.50), "ms")
    report(f"webhooks.{name}_p99_ms", percentile(phase.latencies_ms, 0.99), "ms")
    if phase.failures:
        note(f"{name}: {len(phase.failures)} unexpected answers, first: {phase.failures[0]}")


async def main() -> None:
    with scratch_dir("bench-webhooks-") as directory:
        server = ServerProcess(directory / "data", webhook_rate_per_minute=0)
        await server.start()
        try:
            token = await admin_token(server.base)
            connector = aiohttp.TCPConnector(limit=CLIENTS + 2)
            async with aiohttp.ClientSession(
                    connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http:
                await _phases(http, server.base, {"Authorization": f"Bearer {token}"})
        finally:
            await server.stop()


async def _api(http: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str],
               body: object) -> dict[str, object]:
    async with http.request(method, url, json=body, headers=headers) as resp:
        answer: dict[str, object] = await resp.json()
        assert resp.status in (200, 201), answer
        return answer


async def _phases(http: aiohttp.ClientSession, base: str, admin: dict[str, str]) -> None:
    await _api(http, "PUT", f"{base}/api/v1/workspaces/default/secrets/BENCH_HOOK", admin,
               {"value": SECRET})
    created = await _api(http, "POST", f"{base}/api/v1/workflows", admin, WORKFLOW)
    workflow_id = created["data"]["id"]  # type: ignore[index]
    urls = {}
    for name, fields in (("unsigned", {"auth": "none"}),
                         ("hmac", {"auth": "hmac", "hmac": {"secret": "BENCH_HOOK"},
                                   "idempotencyHeader": "X-GitHub-Delivery"})):
        made = await _api(http, "POST", f"{base}/api/v1/workflows/{workflow_id}/webhooks",
                          admin, fields)
        urls[name] = base + made["data"]["url"]  # type: ignore[index]

    def sender(url: str, expect: int,
               headers_of: Callable[[int, bytes], dict[str, str]]) -> Callable[
                   [int], Awaitable[str | None]]:
        async def send(i: int) -> str | None:
            body = orjson.dumps({"n": i, "action": "opened"})
            headers = {"Content-Type": "application/json", **headers_of(i, body)}
            async with http.post(url, data=body, headers=headers) as resp:
                raw = await resp.read()
            return None if resp.status == expect else f"{resp.status} {raw[:200]!r}"
        return send

    repeated = orjson.dumps({"n": 0, "action": "opened"})
    phases = {
        "unsigned": sender(urls["unsigned"], 202, lambda i, body: {}),
        "hmac": sender(urls["hmac"], 202, lambda i, body: {
            "X-Hub-Signature-256": _signature(body), "X-GitHub-Delivery": f"d-{i}"}),
        "forged": sender(urls["hmac"], 401, lambda i, body: {
            "X-Hub-Signature-256": _signature(body, "not-the-secret")}),
    }

    async def repeat(_: int) -> str | None:
        headers = {"Content-Type": "application/json", "X-GitHub-Delivery": "the-one",
                   "X-Hub-Signature-256": _signature(repeated)}
        async with http.post(urls["hmac"], data=repeated, headers=headers) as resp:
            raw = await resp.read()
        return None if resp.status == 202 else f"{resp.status} {raw[:200]!r}"

    note(f"{CLIENTS} concurrent senders, {PHASE_S:.0f} s per phase, rate limit off")
    for name in ("unsigned", "hmac"):
        _report(name, await _measure(phases[name], PHASE_S))
    _report("repeat", await _measure(repeat, PHASE_S))
    _report("forged", await _measure(phases["forged"], PHASE_S))
