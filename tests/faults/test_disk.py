"""Disk trouble: the real `runstream serve` with its data dir on a small tmpfs mount.

- Full: a filler file takes the last byte. Writes answer 503 `unavailable` (JSON), reads and
  streams go on, nothing acknowledged is lost, and writes work again once space returns.
- Read-only: Linux refuses to remount a filesystem read-only while SQLite holds the database
  open for writing (EBUSY), so a read-only filesystem is only possible from the start: the
  server is started on a data dir that was remounted read-only.

Needs root and `mount` (tmpfs); skipped with the reason otherwise.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.polling import wait_for
from tests.support.server_process import Api, ServerProcess, admin_token, create_workflow, run_cli
from tests.support.summary import report_summary

pytestmark = pytest.mark.slow

MOUNT_BYTES = 24 * 1024 * 1024
QUICK = {"name": "Quick", "nodes": [
    {"id": "a", "type": "transform", "params": {"value": {"n": "{{inputs.n}}"}}},
    {"id": "b", "type": "noop", "after": ["a"]}]}
GATED = {"name": "Gated", "nodes": [
    {"id": "gate", "type": "approval", "params": {"prompt": "go?"}},
    {"id": "after", "type": "transform", "after": ["gate"], "params": {"value": "done"}}]}
SLOW = {"name": "Slow", "nodes": [
    {"id": "wait", "type": "delay", "params": {"ms": 1500}},
    {"id": "end", "type": "noop", "after": ["wait"]}]}


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A fresh tmpfs of MOUNT_BYTES, unmounted at the end."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root and mount(8) for a small tmpfs (a full or read-only disk); "
                    "without them a `max_db_pages` setting on the writer would do (see issue 6)")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    done = _mount("-t", "tmpfs", "-o", f"size={MOUNT_BYTES},mode=0755", "tmpfs", str(mnt))
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        for _ in range(50):
            if subprocess.run(["umount", str(mnt)], capture_output=True).returncode == 0:
                break
            subprocess.run(["sync"])


def fill(mnt: Path) -> Path:
    """Take every free byte of the filesystem with a filler file."""
    filler = mnt / "filler"
    chunk = b"\0" * (1 << 20)
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(chunk)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
        try:  # the last partial megabyte, then the last bytes
            for size in (1 << 16, 4096, 512, 1):
                while True:
                    out.write(b"\0" * size)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    return filler


def is_unavailable(status: int, body: Any) -> bool:
    return status == 503 and isinstance(body, dict) and body["error"]["code"] == "unavailable" \
        and bool(body["error"]["message"])


async def wait_status(api: Api, run_id: str, wanted: set[str], within_s: float) -> str:
    """The run's status once it is one of `wanted` (a failure after `within_s`)."""
    seen = ["?"]

    async def reached() -> str | None:
        code, body = await api.request("GET", f"/api/v1/workflow-runs/{run_id}")
        if code == 200:
            seen[0] = str(body["data"]["status"])
        return seen[0] if seen[0] in wanted else None

    return await wait_for(reached, within_s, lambda: f"run {run_id} still {seen[0]}, not {wanted}",
                          every_s=0.1)


async def start_background(api: Api, workflow_id: str) -> str:
    """Start a run through execute/stream and leave (the run continues)."""
    async with api.http.post(f"{api.base}/api/v1/workflow-runs/execute/stream",
                             json={"workflowId": workflow_id}, headers=api.headers()) as resp:
        assert resp.status == 200, await resp.text()
        return resp.headers["X-Workflow-Run-Id"]


async def test_disk_full_answers_503_keeps_reads_and_recovers(small_fs: Path) -> None:
    server = ServerProcess(small_fs / "data", log_dir=small_fs.parent, synchronous="FULL")
    await server.start()
    api: Api | None = None
    try:
        api = Api(server.base, await admin_token(server.base))
        quick = await create_workflow(api, QUICK)
        gated = await create_workflow(api, GATED)
        acknowledged: dict[str, str] = {}  # run id → the status it was acknowledged with
        for n in range(5):
            code, body = await api.request("POST", "/api/v1/workflow-runs/execute",
                                           json={"workflowId": quick, "inputs": {"n": n}})
            assert code == 200, body
            acknowledged[body["data"]["id"]] = "completed"
        waiting = await start_background(api, gated)
        assert await wait_status(api, waiting, {"waiting"}, 10) == "waiting"
        acknowledged[waiting] = "waiting"

        filler = fill(small_fs)
        # Writes until they fail: some may still fit in pages SQLite already owns.
        unavailable = 0
        written_while_full = 0
        for _ in range(300):
            code, body = await api.request("POST", "/api/v1/workflow-runs/execute",
                                           json={"workflowId": quick, "inputs": {"n": "x" * 2000}})
            if code == 200:
                acknowledged[body["data"]["id"]] = "completed"
                written_while_full += 1
                continue
            assert is_unavailable(code, body), (code, body)
            unavailable += 1
            if unavailable >= 3:
                break
        assert unavailable >= 3, "the disk never filled up"
        # A small write may still fit where a large one did not: the WAL is reused from its
        # start once it has been checkpointed, in space the file already holds. Either it is
        # refused whole, or it is acknowledged and kept.
        saved_while_full: list[str] = []
        for definition in (QUICK, GATED):
            code, body = await api.request("POST", "/api/v1/workflows", json=definition)
            if code == 201:
                saved_while_full.append(body["data"]["id"])
                written_while_full += 1
                continue
            assert is_unavailable(code, body), (code, body)
            unavailable += 1

        # The service is up and serves reads: health, lists, details, raw log, streams.
        reads = 0
        code, body = await api.request("GET", "/healthz")
        assert code == 200, body
        code, body = await api.request("GET", "/api/v1/workflow-runs?limit=100")
        assert code == 200, body
        assert len(acknowledged) <= 100
        assert set(acknowledged) <= {run["id"] for run in body["data"]}
        for run_id, status in acknowledged.items():
            code, body = await api.request("GET", f"/api/v1/workflow-runs/{run_id}")
            assert code == 200, (run_id, body)
            assert body["data"]["status"] == status, (run_id, body)
            code, body = await api.request("GET", f"/api/v1/workflow-runs/{run_id}/events")
            assert code == 200, body
            assert body["data"][0]["type"] == "RunCreated", body
            reads += 2
        finished = next(r for r, s in acknowledged.items() if s == "completed")
        async with api.http.get(f"{api.base}/api/v1/workflow-runs/{finished}/stream",
                                headers=api.headers()) as resp:
            assert resp.status == 200
            assert b"event: result" in await resp.read()
            reads += 1

        # Space returns: writes work again, without a restart.
        filler.unlink()
        code, body = await api.request("POST", "/api/v1/workflow-runs/execute",
                                       json={"workflowId": quick, "inputs": {"n": 99}})
        assert code == 200, body
        assert body["data"]["status"] == "completed", body
        acknowledged[body["data"]["id"]] = "completed"
        code, body = await api.request("POST", "/api/v1/workflows", json=SLOW)
        assert code == 201, body

        # Nothing acknowledged was lost, across a restart too; the log and projections agree.
        await server.stop()
        code, out = await run_cli("verify", data_dir=server.data_dir)
        assert code == 0, out
        code, out = await run_cli("rebuild", "--check", data_dir=server.data_dir)
        assert code == 0, out
        await server.start()
        for run_id, status in acknowledged.items():
            code, body = await api.request("GET", f"/api/v1/workflow-runs/{run_id}")
            assert code == 200, (run_id, body)
            assert body["data"]["status"] == status, (run_id, body)
        for workflow_id in saved_while_full:
            code, body = await api.request("GET", f"/api/v1/workflows/{workflow_id}")
            assert code == 200, body
        code, body = await api.request(
            "POST", f"/api/v1/workflow-runs/{waiting}/nodes/gate/resume", json={"approved": True})
        assert code == 200, body
        assert await wait_status(api, waiting, {"completed"}, 10) == "completed"
    finally:
        if api is not None:
            await api.close()
        await server.stop()
    report_summary(
        f"faults/disk full: {unavailable} writes refused with 503 unavailable "
        f"({written_while_full} still fitted), {reads} reads served while full, "
        f"{len(acknowledged)} acknowledged runs intact after space returned and a restart, "
        "verify + rebuild --check clean, 0 failures")


async def test_runs_in_flight_when_the_disk_fills_continue_once_space_returns(
    small_fs: Path,
) -> None:
    """A run whose next append fails must neither hang its API callers nor stay stuck until a
    restart: once space returns it goes on (the engine folds its log again and continues)."""
    server = ServerProcess(small_fs / "data", log_dir=small_fs.parent, synchronous="FULL")
    await server.start()
    api: Api | None = None
    problems: list[str] = []
    try:
        api = Api(server.base, await admin_token(server.base))
        gated = await create_workflow(api, GATED)
        slow = await create_workflow(api, SLOW)
        waiting = await start_background(api, gated)
        assert await wait_status(api, waiting, {"waiting"}, 10) == "waiting"
        sleeping = await start_background(api, slow)
        assert await wait_status(api, sleeping, {"running"}, 10) == "running"

        filler = fill(small_fs)
        # Make sure the writer has hit the wall (pages SQLite owns may absorb a few writes).
        for _ in range(300):
            code, body = await api.request("POST", "/api/v1/workflows", json=QUICK)
            if code == 503:
                break
        try:
            code, body = await asyncio.wait_for(api.request(
                "POST", f"/api/v1/workflow-runs/{waiting}/nodes/gate/resume",
                json={"approved": True}), 10)
            if code != 503 and code != 200:
                problems.append(f"resume while full: {code} {body}")
        except TimeoutError:
            problems.append("resume while the disk is full hung for 10 s (no answer)")
        await asyncio.sleep(2.0)  # the delay node ends while the disk is full
        filler.unlink()

        # Space is back: both runs must finish without a restart.
        code, body = await api.request(
            "POST", f"/api/v1/workflow-runs/{waiting}/nodes/gate/resume", json={"approved": True})
        if code not in (200, 409):
            problems.append(f"resume after space returned: {code} {body}")
        for run_id, name in ((waiting, "approval run"), (sleeping, "delay run")):
            status = await wait_status(api, run_id, {"completed", "failed", "cancelled"}, 15)
            if status != "completed":
                problems.append(f"{name} is still {status!r} 15 s after space returned")
    finally:
        if api is not None:
            await api.close()
        await server.stop()
    report_summary(f"faults/disk full, runs in flight: {len(problems)} failures"
                   + (f" ({'; '.join(problems)})" if problems else ""))
    assert problems == [], problems


async def test_read_only_filesystem_from_the_start(small_fs: Path) -> None:
    server = ServerProcess(small_fs / "data", log_dir=small_fs.parent)
    await server.start()
    api = Api(server.base, await admin_token(server.base))
    try:
        quick = await create_workflow(api, QUICK)
        code, body = await api.request("POST", "/api/v1/workflow-runs/execute",
                                       json={"workflowId": quick, "inputs": {"n": 1}})
        assert code == 200, body
        run_id = body["data"]["id"]
    finally:
        await api.close()
    assert await server.stop() == 0
    done = _mount("-o", "remount,ro", str(small_fs))
    assert done.returncode == 0, done.stderr
    try:
        server.proc = None
        try:
            await server.start(within_s=20)
        except AssertionError as exc:
            # Refusing to start is acceptable only with a clear message naming the problem.
            if "read-only" not in str(exc).lower() and "readonly" not in str(exc).lower():
                pytest.fail(f"refused to start without saying the disk is read-only: {exc}")
            outcome = "refused to start with a clear read-only message"
        else:
            api = Api(server.base, api.token)
            try:
                code, body = await api.request("GET", f"/api/v1/workflow-runs/{run_id}")
                assert code == 200, body
                assert body["data"]["status"] == "completed", body
                code, body = await api.request("POST", "/api/v1/workflow-runs/execute",
                                               json={"workflowId": quick, "inputs": {"n": 2}})
                assert is_unavailable(code, body), (code, body)
            finally:
                await api.close()
            await server.stop()
            outcome = "served reads and answered writes 503 unavailable"
    finally:
        await server.kill()
        _mount("-o", "remount,rw", str(small_fs))
    report_summary(f"faults/read-only disk: started on a read-only mount: {outcome}, 0 failures")
