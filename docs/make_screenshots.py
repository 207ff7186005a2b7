"""Make the console's screenshots in docs/screenshots/: the run list, a run waiting for
approval, the graph view of a run with a failed branch and of one waiting for approval, a
workflow's schedules, a workflow's webhooks with their deliveries, a workspace's settings, and an agent node's panel with its thinking and the tool call it waits
on (its model is the tests' fake OpenAI-compatible server, on loopback).

Serves the app in-process on a free loopback port with a throwaway data directory, seeds a
few workflows and runs through the public API, and photographs the console in headless
Chromium (Debian's /usr/bin/chromium, driven by Playwright). Run from the repository root:

    .venv/bin/python docs/make_screenshots.py
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from playwright.async_api import async_playwright

from service.app import create_app
from service.settings import load_settings
from tests.support.fake_llm import MODEL, FakeLLM, Reply, chunk, tool_call, usage

OUT = Path(__file__).resolve().parent / "screenshots"
PASSWORD = "screenshot-admin-pw"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

CLASSIFY = {
    "name": "Classify ticket",
    "nodes": [
        {"id": "fetch", "type": "transform", "name": "Fetch ticket",
         "params": {"value": {"status": "{{inputs.status}}",
                              "body": {"id": "{{inputs.id}}", "subject": "{{inputs.subject}}"}}}},
        {"id": "check", "type": "condition", "name": "Found?", "after": ["fetch"],
         "params": {"left": "{{nodes.fetch.output.status}}", "op": "eq", "right": 200}},
        {"id": "ok", "type": "transform", "name": "Route ticket",
         "after": [{"node": "check", "branch": True}],
         "params": {"value": {"ticket": "{{nodes.fetch.output.body}}", "queue": "support"}}},
        {"id": "bad", "type": "fail", "after": [{"node": "check", "branch": False}],
         "params": {"message": "ticket not found"}},
    ],
}
EXPORT = {
    "name": "Nightly export",
    "nodes": [
        {"id": "collect", "type": "transform", "params": {"value": {"tables": ["runs", "nodes"]}}},
        {"id": "write", "type": "delay", "name": "Write files", "after": ["collect"],
         "params": {"ms": 120000}},
    ],
}
RELEASE = {
    "name": "Release approval",
    "nodes": [
        {"id": "build", "type": "transform", "name": "Build notes",
         "params": {"value": {"version": "{{inputs.version}}", "changes": "{{inputs.changes}}"}}},
        {"id": "soak", "type": "delay", "name": "Soak test", "after": ["build"],
         "params": {"ms": 2500}},
        {"id": "approve", "type": "approval", "name": "Sign-off", "after": ["soak"],
         "params": {"prompt": "Ship {{inputs.version}} to production?"}},
        {"id": "publish", "type": "transform", "name": "Publish", "after": ["approve"],
         "params": {"value": {"published": "{{inputs.version}}"}}},
    ],
}


SHOTS = ("run-list.png", "run-view.png", "graph-waiting.png", "graph-failed.png",
         "schedules.png", "agent-approval.png", "workspace.png", "webhooks.png")
TRIAGE = {
    "name": "Triage GitHub issue",
    "nodes": [{"id": "label", "type": "transform", "name": "Label issue",
               "params": {"value": {"issue": "{{trigger.data.body.issue}}",
                                    "action": "{{trigger.data.body.action}}"}}}],
}
HOOK_KEY = "not-a-real-value"


def agent_workflow(endpoint: str) -> dict[str, Any]:
    return {"name": "Support agent", "nodes": [
        {"id": "ticket", "type": "transform", "name": "Read ticket",
         "params": {"value": {"text": "I was charged twice for order 1042, customer c-42."}}},
        {"id": "classify", "type": "agent", "name": "Classify ticket", "after": ["ticket"],
         "params": {"endpoint": endpoint, "model": MODEL,
                    "prompt": "Ticket: {{nodes.ticket.output.text}}",
                    "tools": [{"name": "lookup_customer", "description": "Find a customer",
                               "run": {"type": "transform", "params": {
                                   "value": {"id": "{{args.id}}", "tier": "gold"}}},
                               "approval": "always"}]}},
        {"id": "route", "type": "transform", "name": "Route", "after": ["classify"],
         "params": {"value": "{{nodes.classify.output.text}}"}}]}


AGENT_REPLY = Reply([
    chunk({"reasoning_content": "A double charge is a billing question. "}),
    chunk({"reasoning_content": "Before routing it I should check who customer c-42 is, "
                                "since gold customers go to a person."}),
    tool_call(0, "call_7f3a", "lookup_customer", '{"id": "c-42", "include": ["tier"]}'),
    chunk(finish="tool_calls"), usage(412, 58, reasoning=31, cached=256)])


def graph_card(page: Any) -> Any:
    """The card of a run's graph and its node panel (photographed whole, wherever it is)."""
    return page.locator(".card:has(#run-graph)")


def make_app() -> tuple[web.Application, Path]:
    data_dir = Path(tempfile.mkdtemp(prefix="runstream-shots-"))
    settings = load_settings(
        overrides={"data_dir": data_dir, "admin_password": PASSWORD, "synchronous": "NORMAL",
                   # the agent's fake model server listens on loopback
                   "engine": {"http_allow_hosts": ["127.0.0.1/32"]}},
        environ={},
    )
    return create_app(settings), data_dir


async def call(http: aiohttp.ClientSession, method: str, path: str, body: Any = None) -> Any:
    async with http.request(method, path, json=body) as resp:
        payload = await resp.json()
        if resp.status >= 400:
            raise RuntimeError(f"{method} {path}: {resp.status} {payload}")
        return payload.get("data")


async def start(http: aiohttp.ClientSession, workflow_id: str, inputs: dict[str, Any]) -> str:
    """Start a run and hang up once its id is known (the run goes on)."""
    async with http.post("/api/v1/workflow-runs/execute/stream",
                         json={"workflowId": workflow_id, "inputs": inputs}) as resp:
        return resp.headers["X-Workflow-Run-Id"]


async def wait_for(http: aiohttp.ClientSession, run_id: str, status: str) -> None:
    for _ in range(200):
        if (await call(http, "GET", f"/api/v1/workflow-runs/{run_id}"))["status"] == status:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"run {run_id} never became {status}")


async def deliver(http: aiohttp.ClientSession, url: str, body: bytes, signature: str,
                  delivery: str) -> None:
    """A sender's delivery, signed GitHub's way (the signature over the raw body)."""
    async with http.post(url, data=body, headers={
            "Content-Type": "application/json", "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": signature}) as resp:
        await resp.read()


async def seed(http: aiohttp.ClientSession, llm: FakeLLM) -> tuple[str, str, str, str, str]:
    """A handful of runs in every state, two schedules, an agent waiting on a tool call and
    webhook deliveries; returns the waiting run, a failed one, the scheduled workflow, the
    agent's run and the workflow with webhooks."""
    await call(http, "POST", "/api/v1/auth/login", {"username": "admin", "password": PASSWORD})
    classify = (await call(http, "POST", "/api/v1/workflows", CLASSIFY))["id"]
    export = (await call(http, "POST", "/api/v1/workflows", EXPORT))["id"]
    release = (await call(http, "POST", "/api/v1/workflows", RELEASE))["id"]
    failed = ""
    for n, status in enumerate([200, 200, 404, 200, 200], start=1):
        run = await call(http, "POST", "/api/v1/workflow-runs/execute", {
            "workflowId": classify,
            "inputs": {"status": status, "id": 4100 + n, "subject": f"Printer on floor {n} jams"},
        })
        if status == 404:
            failed = run["id"]
    cancelled = await start(http, export, {})
    await wait_for(http, cancelled, "running")
    await call(http, "POST", "/api/v1/workflow-runs/cancel",
               {"runIds": [cancelled], "reason": "maintenance window moved"})
    await start(http, export, {})
    shown = await start(http, release, {
        "version": "2.4.0", "changes": ["resumable feeds", "web console", "audit view"]})
    await wait_for(http, shown, "waiting")
    for schedule in ({"cron": "0 2 * * *", "timezone": "Europe/Berlin", "catchUp": "latest"},
                     {"cron": "*/15 9-17 * * 1-5", "timezone": "America/New_York",
                      "overlap": "cancelPrevious", "enabled": False}):
        await call(http, "POST", f"/api/v1/workflows/{export}/schedules", schedule)
    for username, role in (("dana", "editor"), ("ravi", "runner"), ("vera", "viewer")):
        await call(http, "POST", "/api/v1/users", {"username": username,
                                                    "password": "screenshot-user-pw"})
        await call(http, "POST", "/api/v1/workspaces/default/members",
                   {"username": username, "role": role})
    for name in ("LLM_KEY", "GITHUB_WEBHOOK_SECRET"):
        await call(http, "PUT", f"/api/v1/workspaces/default/secrets/{name}",
                   {"value": HOOK_KEY})
    triage = (await call(http, "POST", "/api/v1/workflows", TRIAGE))["id"]
    hook = await call(http, "POST", f"/api/v1/workflows/{triage}/webhooks", {
        "auth": "hmac", "hmac": {"secret": "GITHUB_WEBHOOK_SECRET"},
        "idempotencyHeader": "X-GitHub-Delivery", "methods": ["POST"]})
    await call(http, "POST", f"/api/v1/workflows/{triage}/webhooks",
               {"auth": "none", "responseMode": "lastNode", "enabled": False})
    for n, action in enumerate(("opened", "labeled", "closed"), start=1):
        body = json.dumps({"action": action, "issue": 700 + n}).encode()
        signed = "sha256=" + hmac.new(HOOK_KEY.encode(), body, hashlib.sha256).hexdigest()
        await deliver(http, hook["url"], body, signed, f"d-{n}")
    await deliver(http, hook["url"], b'{"action": "forged"}', "sha256=" + "0" * 64, "d-x")
    await deliver(http, hook["url"], json.dumps({"action": "closed", "issue": 703}).encode(),
                  "sha256=" + hmac.new(HOOK_KEY.encode(), json.dumps(
                      {"action": "closed", "issue": 703}).encode(), hashlib.sha256).hexdigest(),
                  "d-3")
    agent = (await call(http, "POST", "/api/v1/workflows", agent_workflow(llm.endpoint)))["id"]
    llm.script(AGENT_REPLY)
    agent_run = await start(http, agent, {})
    await wait_for(http, agent_run, "waiting")
    return shown, failed, export, agent_run, triage


async def main() -> int:
    app, data_dir = make_app()
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    OUT.mkdir(parents=True, exist_ok=True)
    llm = FakeLLM()
    await llm.start()
    try:
        # unsafe=True: the default jar refuses cookies from an IP address such as 127.0.0.1.
        async with aiohttp.ClientSession(base, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            run_id, failed_id, scheduled, agent_run, hooked = await seed(http, llm)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = await browser.new_page(viewport={"width": 1280, "height": 860})
            await page.goto(base + "/")
            await page.fill("#login-form input[name=username]", "admin")
            await page.fill("#login-form input[name=password]", PASSWORD)
            await page.click("#login-form button[type=submit]")
            await page.wait_for_selector("#runs-table")
            await page.wait_for_selector(".live-live")
            await page.wait_for_function(
                "() => !document.querySelector('#run-counts')?.textContent.includes('…')")
            await page.screenshot(path=str(OUT / "run-list.png"), full_page=True)
            await page.goto(f"{base}/#/runs/{run_id}")
            await page.wait_for_selector('tr.node-row[data-node-id="approve"][data-status="waiting"]')
            await page.wait_for_selector(".live-live")
            await page.screenshot(path=str(OUT / "run-view.png"), full_page=True)
            await graph_card(page).screenshot(path=str(OUT / "graph-waiting.png"))
            await page.goto(f"{base}/#/runs/{failed_id}")
            await page.wait_for_selector('#run-graph .gnode[data-node-id="bad"][data-status="failed"]')
            await page.click('#run-graph .gnode[data-node-id="bad"]')
            await page.wait_for_selector("#node-panel .node-error")
            await graph_card(page).screenshot(path=str(OUT / "graph-failed.png"))
            await page.goto(f"{base}/#/workflows/{scheduled}")
            await page.wait_for_selector("#schedules-table")
            await page.locator("#schedules-card").screenshot(path=str(OUT / "schedules.png"))
            await page.goto(f"{base}/#/workflows/{hooked}")
            await page.wait_for_selector("#webhooks-table .deliveries li")
            await page.locator("#webhooks-card").screenshot(path=str(OUT / "webhooks.png"))
            await page.goto(f"{base}/#/runs/{agent_run}")
            await page.click('#run-graph .gnode[data-node-id="classify"]')
            await page.wait_for_selector("#node-panel .pending-tool-call .tool-args")
            await page.wait_for_selector(".live-live")
            await graph_card(page).screenshot(path=str(OUT / "agent-approval.png"))
            await page.goto(f"{base}/#/workspaces/default")
            await page.wait_for_selector("#members-table")
            await page.wait_for_selector("#secrets-table")
            await page.screenshot(path=str(OUT / "workspace.png"), full_page=True)
            await browser.close()
    finally:
        await runner.cleanup()
        await llm.stop()
    print(f"wrote {', '.join(SHOTS)} in {OUT} (data in {data_dir})")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
