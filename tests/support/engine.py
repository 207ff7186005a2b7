"""Engine helpers: a harness that runs definitions and reads their events back, and a local
HTTP server that counts hits (the fixtures that build them are in tests/conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web

from eventstore.sqlite import SQLiteEventStore
from service.engine.engine import Engine
from service.engine.state import RunState
from service.settings.engine import EngineSettings
from service.workflows import WorkflowRepository

TEST_SETTINGS = EngineSettings(http_allow_hosts=("127.0.0.1",), default_node_timeout_ms=10_000)


class Harness:
    """An engine plus helpers to run a definition and read back its events."""

    def __init__(self, store: SQLiteEventStore, repo: WorkflowRepository, engine: Engine) -> None:
        self.store, self.repo, self.engine = store, repo, engine

    async def start(self, definition: dict[str, Any], inputs: dict[str, Any] | None = None,
                    envs: dict[str, str] | None = None, workspace: str = "default") -> str:
        workflow = await self.repo.create(workspace, definition, "tester")
        return await self.engine.start_run(workflow.id, workspace, inputs or {}, envs or {},
                                           "tester")

    async def run(self, definition: dict[str, Any], inputs: dict[str, Any] | None = None,
                  envs: dict[str, str] | None = None,
                  within_s: float = 10) -> tuple[str, RunState]:
        run_id = await self.start(definition, inputs, envs)
        await asyncio.wait_for(self.engine.wait(run_id), within_s)
        return run_id, await self.engine.run_state(run_id)

    async def events(self, run_id: str) -> list[tuple[str, dict[str, Any]]]:
        return [(e.type, e.payload) for e in await self.store.read(run_id, 0, 100_000)]

    async def node_events(self, run_id: str, node_id: str) -> list[tuple[str, dict[str, Any]]]:
        return [(t, d) for t, d in await self.events(run_id) if d.get("nodeId") == node_id]

    async def wait_for_event(self, run_id: str, type_: str, node_id: str | None = None,
                             within_s: float = 5) -> dict[str, Any]:
        async def watch() -> dict[str, Any]:
            async for event in self.store.subscribe(run_id):
                data = event.payload
                if event.type == type_ and (node_id is None or data.get("nodeId") == node_id):
                    return data
            raise AssertionError("subscription ended")

        return await asyncio.wait_for(watch(), within_s)

    async def child_of(self, run_id: str, within_s: float = 5) -> str:
        """The first child run of `run_id`, once its RunCreated is committed."""
        async def watch() -> str:
            async for event in self.store.subscribe(None):
                if event.type == "RunCreated" and event.payload["parentRunId"] == run_id:
                    return event.stream
            raise AssertionError("subscription ended")

        return await asyncio.wait_for(watch(), within_s)


def make_engine(store: SQLiteEventStore, repo: WorkflowRepository,
                settings: EngineSettings = TEST_SETTINGS) -> Engine:
    return Engine(store, repo, settings)


class CountingServer:
    """A local aiohttp server that counts hits per path and can be slow or fail."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.changed = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.hits[name] = self.hits.get(name, 0) + 1
        self.changed.set()
        self.requests.append((name, dict(request.headers), await request.read()))
        query = request.query
        if "sleep" in query:
            await asyncio.sleep(float(query["sleep"]))
        if "sleep_first" in query and self.hits[name] == 1:
            await asyncio.sleep(float(query["sleep_first"]))
        if "fail_until" in query and self.hits[name] < int(query["fail_until"]):
            return web.json_response({"error": "try again"}, status=503)
        if "redirect" in query:
            raise web.HTTPFound(query["redirect"])
        if "size" in query:
            return web.Response(body=b"x" * int(query["size"]))
        body = await request.read()
        return web.json_response({"name": name, "hit": self.hits[name],
                                  "method": request.method,
                                  "headers": dict(request.headers),
                                  "body": body.decode() if body else None})

    async def until(self, predicate: Callable[[dict[str, int]], bool],
                    within_s: float = 20) -> None:
        """Wait until `predicate(hits)` holds."""
        async with asyncio.timeout(within_s):
            while not predicate(self.hits):
                self.changed.clear()
                await self.changed.wait()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{name}", self.handle)
        self.runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
