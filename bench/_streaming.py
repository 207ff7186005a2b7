"""Shared by the stream benchmarks: the real app on a port, a run whose stream stays open,
the minimal in-memory broadcast used as the reference, and the client process."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from eventstore.records import RecordedEvent
from projections.runs import activity_run_id
from service import keys
from service.app import create_app
from service.logging import configure_logging
from service.runtime import raise_open_files_limit, tune_gc_on_startup
from service.settings import load_settings
from service.streams.sse import SSE_HEADERS, Frame, encode, encode_retry

PASSWORD = "bench-admin-password"
GATE = "gate"  # the approval node that keeps the run waiting, so its stream stays open
WORKFLOW = {"name": "bench-stream", "nodes": [{"id": GATE, "type": "approval"}]}
CLIENT_MODULE = "bench._sse_clients"
ROOT = Path(__file__).resolve().parent.parent  # where `python -m bench...` finds the package


def rss_kb(pid: int | None = None) -> int:
    """Resident set size of a process (this one by default), from /proc, in KiB."""
    status = Path(f"/proc/{pid or os.getpid()}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc status")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Target:
    """A stream URL the clients connect to, with the headers that authorise them."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1 (a free port) in this process; yields the base URL."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=4096)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def runstream_app(data_dir: Path, **overrides: Any) -> AsyncIterator[tuple[web.Application, str]]:
    """The real service (durable: synchronous FULL unless overridden) on a free port."""
    configure_logging(logging.WARNING)  # one request line per stream would drown the figures
    settings = load_settings(
        # One token opens every stream here: the per-user limit on open streams is off.
        overrides={"data_dir": data_dir, "admin_password": PASSWORD, "synchronous": "FULL",
                   "stream_max_per_user": 0, **overrides},
        environ={},
    )
    app = create_app(settings)
    app.on_startup.append(tune_gc_on_startup)  # as `runstream serve` does
    async with serve(app) as base_url:
        yield app, base_url


async def admin_token(base_url: str) -> str:
    # unsafe: the jar keeps cookies for an IP address host (127.0.0.1) only when told to.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        resp = await http.post(f"{base_url}/api/v1/auth/login",
                               json={"username": "admin", "password": PASSWORD})
        assert resp.status == 200, await resp.text()
        resp = await http.post(f"{base_url}/api/v1/tokens", json={"name": "bench"})
        assert resp.status == 201, await resp.text()
        token: str = (await resp.json())["data"]["token"]
        return token


async def waiting_run(app: web.Application, base_url: str, token: str) -> str:
    """Start a run of a one-approval workflow and wait until it waits; returns its id."""
    auth = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=auth) as http:
        resp = await http.post(f"{base_url}/api/v1/workflows", json=WORKFLOW)
        assert resp.status == 201, await resp.text()
        workflow = (await resp.json())["data"]
        resp = await http.get(f"{base_url}/api/v1/auth/me")
        me = (await resp.json())["data"]
        user_id = me.get("id") or me.get("user", {}).get("id")
        run_id: str = await app[keys.ENGINE].start_run(
            workflow["id"], workflow["workspaceId"], {}, {}, user_id
        )
        for _ in range(500):
            resp = await http.get(f"{base_url}/api/v1/workflow-runs/{run_id}")
            if (await resp.json())["data"]["status"] == "waiting":
                return run_id
            await asyncio.sleep(0.01)
    raise RuntimeError(f"run {run_id} never reached waiting")


def thinking_payload(run_id: str, text: str) -> bytes:
    """The data of the v1 `thinking` frame our renderer produces for a NodeThinking event."""
    return orjson.dumps({"content": text, "stepId": GATE,
                         "activityRunId": activity_run_id(run_id, GATE)})


class CommitClock:
    """When each position's COMMIT returned on the writer thread (time.time()).

    Wraps the writer's batch function: the clock is read on the writer thread right
    after COMMIT, before the hop back to the event loop, so that hop counts as latency.
    """

    def __init__(self, app: web.Application) -> None:
        self.at: dict[int, float] = {}
        writer = app[keys.STORE]._writer
        run_batch = writer._run_batch

        def timed(fns: list[Any]) -> Any:
            outcome = run_batch(fns)
            now = time.time()
            if outcome.commit_error is None:
                for result in outcome.results:
                    if isinstance(result, list):
                        for event in result:
                            if isinstance(event, RecordedEvent):
                                self.at[event.position] = now
            return outcome

        writer._run_batch = timed  # type: ignore[method-assign]


class Broadcast:
    """The reference: a minimal in-memory aiohttp SSE broadcast, one queue per subscriber."""

    def __init__(self) -> None:
        self.queues: set[asyncio.Queue[bytes]] = set()
        self.app = web.Application()
        self.app.router.add_get("/stream", self.stream)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers=SSE_HEADERS)
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.queues.add(queue)
        try:
            await response.prepare(request)
            await response.write(encode_retry(2000))
            while True:
                await response.write(await queue.get())
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            return response
        finally:
            self.queues.discard(queue)

    def publish(self, position: int, data: bytes, event: str = "thinking") -> None:
        frame = encode(Frame(data, event), position)
        for queue in self.queues:
            queue.put_nowait(frame)


async def emit(send: Callable[[int], Coroutine[Any, Any, None]], first: int, count: int,
               per_s: float) -> float:
    """Call `send(first)`, `send(first + 1)`, ... at `per_s` a second, each its own task
    (so a slow commit never slows the offered rate); returns the seconds it took."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    sends: list[asyncio.Task[None]] = []
    for i in range(count):
        await asyncio.sleep(max(0.0, start + i / per_s - loop.time()))
        sends.append(asyncio.create_task(send(first + i)))
    await asyncio.gather(*sends)
    return loop.time() - start


async def _serve_reference(pipe: Connection) -> None:
    broadcast = Broadcast()

    async def publish(position: int) -> None:
        broadcast.publish(position, thinking_payload("ref", f"{time.time():.6f}"))

    async with serve(broadcast.app) as base_url:
        pipe.send(base_url)
        sent = 0
        while (command := await asyncio.to_thread(pipe.recv)) is not None:
            count, per_s = command
            pipe.send(await emit(publish, sent + 1, count, per_s))
            sent += count


def reference_process(pipe: Connection) -> None:
    """The reference broadcast in a process of its own: it sends `count` events at
    `per_s` when sent (count, per_s) on `pipe`, answers the seconds it took, ends on None."""
    raise_open_files_limit()
    asyncio.run(_serve_reference(pipe))


@dataclass
class ClientProcess:
    """N SSE clients in a separate process (bench/_sse_clients.py)."""

    proc: asyncio.subprocess.Process
    out_path: Path

    @classmethod
    async def start(cls, target: Target, count: int, out_path: Path, mode: str) -> ClientProcess:
        args = [sys.executable, "-m", CLIENT_MODULE, mode, target.url, str(count),
                str(out_path), orjson.dumps(target.headers).decode()]
        proc = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        client = cls(proc, Path(out_path))
        await client.expect("ready", within_s=150)
        return client

    async def expect(self, word: str, within_s: float) -> None:
        assert self.proc.stdout is not None
        async with asyncio.timeout(within_s):
            line = await self.proc.stdout.readline()
        if line.decode().strip() != word:
            raise RuntimeError(f"client process said {line!r}, expected {word!r}")

    async def count(self) -> int:
        """How many frames the clients have recorded so far."""
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(b"count\n")
        await self.proc.stdin.drain()
        return int(await asyncio.wait_for(self.proc.stdout.readline(), 30))

    async def stop(self) -> None:
        """Close every connection; the process writes its records and exits."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"stop\n")
        await self.proc.stdin.drain()
        try:
            await self.expect("done", within_s=60)
        finally:
            if self.proc.returncode is None:
                try:
                    await asyncio.wait_for(self.proc.wait(), 10)
                except TimeoutError:
                    self.proc.kill()
                    await self.proc.wait()

    def records(self) -> Iterable[tuple[int, float, float]]:
        """(position, receive time, send time from the payload) per frame received."""
        from array import array

        values = array("d")
        values.frombytes(self.out_path.read_bytes())
        for i in range(0, len(values), 3):
            yield int(values[i]), values[i + 1], values[i + 2]
