"""Helpers for the fault suites: the real `runstream serve` process on a free port and a temp
data dir (start, wait for /healthz, SIGKILL, restart), an API client for it, the offline CLI,
and Debian's Chromium for the browser test.

Everything here talks to loopback only.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from tests.support.polling import wait_for

ADMIN_PASSWORD = "faults-admin-password"
USER_PASSWORD = "faults-user-password"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def runstream_command() -> list[str]:
    """The installed `runstream` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "runstream"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "service.cli"]


def clean_environ(**settings: Any) -> dict[str, str]:
    """This process's environment without anyone's RUNSTREAM_* values, plus `settings`
    (a key of a table with a double underscore: engine__max_concurrent_runs)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNSTREAM_")}
    env["RUNSTREAM_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    env["PYTHONUNBUFFERED"] = "1"  # its log is readable while it runs, and whole if killed
    for key, value in settings.items():
        if isinstance(value, list | tuple):
            value = ",".join(str(v) for v in value)
        env[f"RUNSTREAM_{key.upper()}"] = str(value)
    return env


class ServerProcess:
    """One data directory served by successive `runstream serve` processes on one port."""

    def __init__(self, data_dir: Path, port: int | None = None, log_dir: Path | None = None,
                 **settings: Any) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.settings = settings
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.kills = 0
        self.log_path = (log_dir or data_dir.parent) / f"{data_dir.name}-server.log"

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    async def start(self, within_s: float = 60.0) -> None:
        await self.spawn()
        await self.wait_healthy(within_s)

    async def spawn(self) -> None:
        """Start the process without waiting for it to serve."""
        assert self.proc is None or self.proc.returncode is not None, "already running"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *runstream_command(), "serve", "--host", HOST, "--port", str(self.port),
                "--data-dir", str(self.data_dir),
                env=clean_environ(**self.settings), stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        self.starts += 1

    async def wait_healthy(self, within_s: float = 60.0) -> None:
        async with aiohttp.ClientSession() as http:

            async def healthy() -> bool:
                assert self.proc is not None
                if self.proc.returncode is not None:
                    raise AssertionError(
                        f"runstream serve exited with {self.proc.returncode}:\n{self.log_tail()}")
                try:
                    async with http.get(f"{self.base}/healthz",
                                        timeout=aiohttp.ClientTimeout(total=2)) as resp:
                        return resp.status == 200
                except (aiohttp.ClientError, TimeoutError):
                    return False

            await wait_for(healthy, within_s, lambda: f"no /healthz:\n{self.log_tail()}",
                           every_s=0.05)

    async def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, nothing is flushed but what SQLite committed."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()
            self.kills += 1

    async def stop(self, within_s: float = 20.0) -> int | None:
        """SIGTERM (a clean shutdown), then SIGKILL if it does not end in time."""
        if self.proc is None or self.proc.returncode is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), within_s)
        except TimeoutError:
            await self.kill()
            return None

    async def restart(self, kill: bool = True) -> None:
        if kill:
            await self.kill()
        else:
            await self.stop()
        await self.start()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


class Api:
    """An aiohttp session against a served base URL, optionally with a bearer token."""

    def __init__(self, base: str, token: str | None = None) -> None:
        self.base = base
        self.token = token
        self.http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=30), cookie_jar=aiohttp.CookieJar(unsafe=True))

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {} if self.token is None else {"Authorization": f"Bearer {self.token}"}
        return {**headers, **(extra or {})}

    async def request(self, method: str, path: str, json: Any = None,
                      headers: dict[str, str] | None = None, **kwargs: Any) -> tuple[int, Any]:
        async with self.http.request(method, self.base + path, json=json,
                                     headers=self.headers(headers), **kwargs) as resp:
            raw = await resp.read()
            body = orjson.loads(raw) if raw and resp.content_type.endswith("json") else raw
            return resp.status, body

    async def close(self) -> None:
        await self.http.close()


async def admin_token(base: str, username: str = "admin",
                      password: str = ADMIN_PASSWORD) -> str:
    """Log in with the password, and mint a bearer token (survives restarts)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(f"{base}/api/v1/auth/login",
                             json={"username": username, "password": password}) as resp:
            assert resp.status == 200, await resp.text()
        async with http.post(f"{base}/api/v1/tokens", json={"name": "faults"}) as resp:
            body = await resp.json()
            assert resp.status == 201, body
            return str(body["data"]["token"])


async def create_workflow(api: Api, definition: dict[str, Any]) -> str:
    status, body = await api.request("POST", "/api/v1/workflows", json=definition)
    assert status == 201, body
    return str(body["data"]["id"])


async def run_cli(*args: str, data_dir: Path, timeout_s: float = 120.0) -> tuple[int, str]:
    """`runstream ARGS --data-dir DATA_DIR`: exit code and combined output."""
    proc = await asyncio.create_subprocess_exec(
        *runstream_command(), *args, "--data-dir", str(data_dir), env=clean_environ(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


def node_completions(events: list[dict[str, Any]]) -> dict[tuple[str, str], list[int]]:
    """Raw log rows of one run → attempts of NodeCompleted per (run, node)."""
    done: dict[tuple[str, str], list[int]] = {}
    for event in events:
        if event["type"] == "NodeCompleted":
            data = event["data"]
            done.setdefault((event["stream"], data["nodeId"]), []).append(data.get("attempt"))
    return done
