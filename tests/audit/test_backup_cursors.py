"""After a restore the log is shorter than what clients saw: a cursor from the lost part gets
409 `cursor_beyond_log` on every stream, however far new events have since taken the head,
and a cursor from the part that was kept resumes as before.

One history, on the real app and a real SQLite file: a run waits for approval; the
database is backed up (online); the run is approved and finishes, and clients read every
stream to the end, keeping the ids they saw; the server stops and the backup is restored;
a new server approves the same run again, so its new events go past every lost cursor.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from eventstore.lost_history import LOG_RESTORED
from eventstore.sqlite import verify_file
from service.app import create_app
from service.settings import Settings
from tests.dialects.helpers import read_stream
from tests.support.api import APPROVAL_WORKFLOW, create_workflow, wait_for_status
from tests.support.auth import ADMIN_PASSWORD, login, make_settings
from tests.support.cli import arun
from tests.support.sse import SSEFrame


@dataclass(frozen=True)
class Endpoint:
    """One stream that resumes from a cursor, and whether it follows one run to its end."""

    name: str
    path: str  # with {run}, {workflow}, {chat}
    per_run: bool


ENDPOINTS = [
    Endpoint("v1", "/api/v1/workflow-runs/{run}/stream", True),
    Endpoint("chat", "/api/chats/{chat}/workflow-runs/{run}/stream", True),
    Endpoint("flowtrux", "/api/workflows/{workflow}/executions/{run}/stream", True),
    Endpoint("splox", "/api/v1/workflow-requests/{run}/listen", True),
    Endpoint("events", "/api/v1/events/stream", False),
    Endpoint("feed", "/api/v1/workflow-runs/stream", False),
]


@dataclass
class Restored:
    """The restored server, and what clients of the replaced history hold."""

    client: TestClient
    run_id: str
    workflow_id: str
    chat_id: str
    backup_head: int  # the last position the restore kept
    lost_through: int  # the replaced log's head
    lost_ids: dict[str, int]  # per endpoint: the last id a client saw, in the lost part
    kept_ids: dict[str, int]  # per endpoint: an id a client saw before the backup
    lost_checkpoint: Path  # checkpoints an auditor saved of the lost part
    lost_checkpoint_position: int
    data_dir: Path

    def url(self, endpoint: Endpoint) -> str:
        return endpoint.path.format(run=self.run_id, workflow=self.workflow_id,
                                    chat=self.chat_id)


def ids(frames: list[SSEFrame]) -> list[int]:
    return [int(frame.id) for frame in frames if frame.id is not None]


async def started(aiohttp_client: Any, settings: Settings) -> TestClient:
    client: TestClient = await aiohttp_client(create_app(settings))
    await login(client, "admin", ADMIN_PASSWORD, expect=200)
    return client


async def approve(client: TestClient, run_id: str) -> None:
    resp = await client.post(f"/api/v1/workflow-runs/{run_id}/nodes/approve/resume",
                             json={"approved": True})
    assert resp.status == 200, await resp.json()
    await wait_for_status(client, run_id, "completed")


async def frames_after(client: TestClient, url: str, cursor: int | None,
                       **read: Any) -> tuple[int, list[SSEFrame]]:
    headers = {} if cursor is None else {"Last-Event-ID": str(cursor)}
    status, frames, _ = await read_stream(client, "GET", url, headers=headers, **read)
    return status, [frame for frame in frames if frame.id is not None]


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    capsys.readouterr()  # the app's request log lines so far are not the command's output
    return await arun(capsys, *argv)


async def head(client: TestClient) -> int:
    resp = await client.get("/healthz")
    return int((await resp.json())["head"])


@pytest.fixture
async def restored(aiohttp_client: Any, tmp_path: Path,
                   capsys: pytest.CaptureFixture[str]) -> Restored:
    settings = make_settings(tmp_path / "data")
    before = await started(aiohttp_client, settings)
    workflow_id = await create_workflow(before, APPROVAL_WORKFLOW)
    resp = await before.post("/api/chats", json={"title": "restore"})
    chat_id = (await resp.json())["data"]["id"]
    resp = await before.post(f"/api/chats/{chat_id}/workflow-runs",
                             json={"workflowId": workflow_id, "inputs": {"x": 1}})
    body = await resp.json()
    assert resp.status == 201, body
    run_id = body["data"]["id"]
    await wait_for_status(before, run_id, "waiting")
    first_of_run = (await (await before.get(f"/api/v1/workflow-runs/{run_id}/events")).json()
                    )["data"][0]["position"]

    code, backup, err = await cli(capsys, "backup", str(tmp_path / "backup.db"),
                                   "--data-dir", str(settings.data_dir))
    assert code == 0, err
    backup_head = backup["head"]

    await approve(before, run_id)  # everything from here on is lost by the restore
    lost_ids: dict[str, int] = {}
    kept_ids: dict[str, int] = {}
    for endpoint in ENDPOINTS:
        url = endpoint.path.format(run=run_id, workflow=workflow_id, chat=chat_id)
        if endpoint.per_run:  # read to its end, as a client following the run did
            status, frames = await frames_after(before, url, None)
            seen = ids(frames)
            kept_ids[endpoint.name] = next(i for i in seen if i >= first_of_run)
        else:  # one frame past the backup's head, as a client following the log did
            status, frames = await frames_after(
                before, url, backup_head,
                until=lambda frame: frame.id is not None and int(frame.id) > backup_head)
            seen = ids(frames)
            kept_ids[endpoint.name] = backup_head
        assert status == 200, endpoint
        assert seen[-1] > backup_head, (endpoint, seen)
        lost_ids[endpoint.name] = seen[-1]
    lost_through = await head(before)
    resp = await before.post("/api/v1/audit/checkpoints", json={})
    assert resp.status == 201
    lost_checkpoint_position = (await resp.json())["data"]["position"]
    lost_checkpoint = tmp_path / "checkpoints.json"
    lost_checkpoint.write_bytes(await (await before.get("/api/v1/audit/checkpoints")).read())
    await before.close()  # the server stops; then the operator restores

    code, report, err = await cli(capsys, "restore", str(tmp_path / "backup.db"),
                                   "--data-dir", str(settings.data_dir))
    assert code == 0, err
    assert (report["head"], report["lostFrom"], report["lostThrough"]) == (
        backup_head, backup_head + 1, lost_through)

    after = await started(aiohttp_client, settings)
    await wait_for_status(after, run_id, "waiting")  # as it was when backed up
    await approve(after, run_id)  # the new history: positions after the marker
    assert await head(after) > max(lost_ids.values())
    return Restored(after, run_id, workflow_id, chat_id, backup_head, lost_through,
                    lost_ids, kept_ids, lost_checkpoint, lost_checkpoint_position,
                    settings.data_dir)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
async def test_a_cursor_from_the_lost_history_gets_409_after_the_head_passed_it(
    restored: Restored, endpoint: Endpoint
) -> None:
    cursor = restored.lost_ids[endpoint.name]
    resp = await restored.client.get(restored.url(endpoint),
                                     headers={"Last-Event-ID": str(cursor)})
    # The status first: a stream served instead would never end for .json() to return.
    assert resp.status == 409, resp.headers
    body = await resp.json()
    assert body["error"]["code"] == "cursor_beyond_log"
    assert body["error"]["details"]["cursor"] == cursor
    # The query form of the cursor is held to the same rule.
    resp = await restored.client.get(restored.url(endpoint), params={"lastEventId": cursor})
    assert resp.status == 409


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
async def test_every_position_the_restore_skipped_gets_409(
    restored: Restored, endpoint: Endpoint
) -> None:
    for cursor in (restored.backup_head + 1, restored.lost_through):
        resp = await restored.client.get(restored.url(endpoint),
                                         headers={"Last-Event-ID": str(cursor)})
        assert resp.status == 409, cursor


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
async def test_a_cursor_from_the_kept_part_resumes_into_the_new_history(
    restored: Restored, endpoint: Endpoint
) -> None:
    cursor = restored.kept_ids[endpoint.name]
    read: dict[str, Any] = {} if endpoint.per_run else {"limit": 3}
    status, frames = await frames_after(restored.client, restored.url(endpoint), cursor,
                                        **read)
    assert status == 200
    # The feed first names where it starts (`ready`, id = the cursor itself).
    seen = ids([frame for frame in frames if frame.event != "ready"])
    assert seen
    assert seen == sorted(set(seen))
    assert seen[0] > cursor
    # Nothing of the lost history, and the events after the kept part are the new ones.
    assert not [i for i in seen if restored.backup_head < i <= restored.lost_through]
    assert seen[-1] > restored.lost_through


async def test_the_log_says_where_it_was_restored_and_still_verifies(
    restored: Restored, tmp_path: Path
) -> None:
    resp = await restored.client.get("/api/v1/events",
                                     params={"after": restored.backup_head, "limit": 1})
    (marker,) = (await resp.json())["data"]
    assert marker["type"] == LOG_RESTORED
    assert marker["position"] == restored.lost_through + 1
    assert marker["data"]["restoredHead"] == restored.backup_head
    assert marker["data"]["lostFrom"] == restored.backup_head + 1
    assert marker["data"]["lostThrough"] == restored.lost_through
    result = verify_file(tmp_path / "data" / "runstream.db")
    assert result.ok, result
    assert result.head == await head(restored.client)


async def test_a_checkpoint_of_the_lost_history_no_longer_holds(
    restored: Restored, capsys: pytest.CaptureFixture[str]
) -> None:
    """Restoring is a rewrite an auditor sees: the saved checkpoint names a lost position."""
    assert restored.backup_head < restored.lost_checkpoint_position <= restored.lost_through
    code, report, _ = await cli(capsys, "checkpoint", "verify", str(restored.lost_checkpoint),
                                "--data-dir", str(restored.data_dir))
    assert code == 1
    assert report["firstBadPosition"] == restored.lost_checkpoint_position

