"""The console's server side: static files with CSP and cache headers, the run status feed
(visibility, resume, filters) and the audit verification endpoint."""

from __future__ import annotations

import asyncio
import re
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from service.views.console import CSP
from tests.support.api import APPROVAL_WORKFLOW, QUICK_WORKFLOW, create_workflow, execute
from tests.support.auth import USER_PASSWORD, ClientFactory, create_user, login
from tests.support.console import assert_no_inline_script_or_style, create_workspace
from tests.support.sse import SSEFrame, iter_frames

FEED = "/api/v1/workflow-runs/stream"



async def user_with_workspace(
    new_client: ClientFactory, admin: TestClient, name: str
) -> tuple[TestClient, str]:
    """A user who is admin of a workspace of their own and a member of nothing else."""
    await create_user(admin, name)
    client = await new_client()
    await login(client, name, USER_PASSWORD)
    return client, await create_workspace(client, f"{name}-space")


async def feed_frames(
    client: TestClient, until: Any, params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None, within: float = 5.0,
) -> list[SSEFrame]:
    """Frames of the feed (pings left out) until `until(frames)` holds."""
    frames: list[SSEFrame] = []
    async with asyncio.timeout(within):
        async with client.get(FEED, params=params, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            async for frame in iter_frames(resp):
                if frame.event == "ping" or (frame.retry is not None and not frame.data_lines):
                    continue
                frames.append(frame)
                if until(frames):
                    return frames
    raise AssertionError("unreachable")


def changes(frames: list[SSEFrame]) -> list[dict[str, Any]]:
    return [frame.json() for frame in frames if frame.event == "workflow-run"]


def saw_run_end(run_id: str) -> Any:
    return lambda frames: any(
        c["workflowRunId"] == run_id and c["status"] == "completed" for c in changes(frames)
    )


# -- static files -------------------------------------------------------------------------


async def test_index_is_served_with_csp_and_revalidated(admin: TestClient) -> None:
    resp = await admin.get("/")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    assert resp.headers["Content-Security-Policy"] == CSP
    for directive in ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"):
        assert directive in CSP
    assert "unsafe-inline" not in CSP
    assert resp.headers["Cache-Control"] == "no-cache"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    html = await resp.text()
    assert "__CONSOLE_VERSION__" not in html
    again = await admin.get("/", headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status == 304


async def test_assets_are_versioned_and_cached_for_long(admin: TestClient) -> None:
    html = await (await admin.get("/")).text()
    script = re.search(r'<script type="module" src="(/console/([0-9a-f]+)/app\.js)"', html)
    assert script is not None
    resp = await admin.get(script.group(1))
    assert resp.status == 200
    assert resp.content_type == "text/javascript"
    assert "immutable" in resp.headers["Cache-Control"]
    assert "max-age=31536000" in resp.headers["Cache-Control"]
    assert resp.headers["Content-Security-Policy"] == CSP
    css = await admin.get(f"/console/{script.group(2)}/style.css")
    assert css.status == 200
    assert css.content_type == "text/css"
    # An older page asking for an older version gets today's file, not cached under that name.
    stale = await admin.get("/console/000000000000/app.js")
    assert stale.status == 200
    assert stale.headers["Cache-Control"] == "no-cache"


async def test_unknown_and_traversing_asset_paths_are_404(admin: TestClient) -> None:
    for path in ("/console/v/nope.js", "/console/v/..%2Fviews%2Fconsole.py",
                 "/console/v/index.html", "/console/v/.hidden.js"):
        resp = await admin.get(path)
        assert resp.status == 404, path


def test_console_has_no_inline_script_style_or_html_injection() -> None:
    folder = Path(str(files("service").joinpath("console")))
    assert_no_inline_script_or_style((folder / "index.html").read_text())
    for script in folder.glob("*.js"):
        text = script.read_text()
        # Every value reaches the page as text nodes: no markup is ever parsed from data.
        assert "innerHTML" not in text, script.name
        assert "insertAdjacentHTML" not in text, script.name
        assert "eval(" not in text, script.name


# -- the run status feed ------------------------------------------------------------------


async def test_feed_needs_a_signed_in_caller(new_client: ClientFactory) -> None:
    anon = await new_client()
    resp = await anon.get(FEED)
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "unauthorized"


async def test_feed_shows_each_caller_only_the_runs_they_may_see(
    admin: TestClient, new_client: ClientFactory
) -> None:
    bob, bob_space = await user_with_workspace(new_client, admin, "bob")
    carol, _ = await user_with_workspace(new_client, admin, "carol")
    admin_wf = await create_workflow(admin, QUICK_WORKFLOW)
    bob_wf = await create_workflow(bob, {**QUICK_WORKFLOW, "workspaceId": bob_space})
    admin_run = (await execute(admin, admin_wf, n=1))["id"]
    bob_run = (await execute(bob, bob_wf, n=2))["id"]

    # From the start of the log: bob sees his run only, the admin sees both.
    bob_changes = changes(await feed_frames(bob, saw_run_end(bob_run), {"lastEventId": "0"}))
    assert {c["workflowRunId"] for c in bob_changes} == {bob_run}
    assert [c["status"] for c in bob_changes] == ["scheduled", "running", "completed"]
    assert all(c["workflowId"] == bob_wf and c["updatedAt"] for c in bob_changes)
    admin_changes = changes(await feed_frames(admin, saw_run_end(bob_run), {"lastEventId": "0"}))
    assert {c["workflowRunId"] for c in admin_changes} == {admin_run, bob_run}

    # Carol sees nothing at all: a live run of bob's passes her by while her feed is open.
    async def carol_feed() -> list[SSEFrame]:
        return await feed_frames(
            carol, lambda frames: len(changes(frames)) > 0, {"lastEventId": "0"}, within=1.5
        )

    watcher = asyncio.ensure_future(carol_feed())
    await execute(bob, bob_wf, n=3)
    with pytest.raises(TimeoutError):
        await watcher


async def test_feed_resumes_after_last_event_id_without_gap_or_duplicate(
    admin: TestClient,
) -> None:
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    first = (await execute(admin, workflow_id, n=1))["id"]
    second = (await execute(admin, workflow_id, n=2))["id"]
    everything = await feed_frames(admin, saw_run_end(second), {"lastEventId": "0"})
    updates = [f for f in everything if f.event == "workflow-run"]
    assert len(updates) == 6
    assert all(f.id is not None for f in updates)
    positions = [int(f.id or 0) for f in updates]
    assert positions == sorted(positions)

    cut = updates[2]  # the first run's completion
    assert cut.json() == {**cut.json(), "workflowRunId": first, "status": "completed"}
    resumed = await feed_frames(
        admin, saw_run_end(second), headers={"Last-Event-ID": str(cut.id)}
    )
    assert resumed[0].event == "ready"
    assert resumed[0].id == cut.id
    assert [f.id for f in resumed[1:]] == [f.id for f in updates[3:]]
    assert changes(resumed) == [f.json() for f in updates[3:]]


async def test_feed_without_cursor_starts_now_and_names_its_start(admin: TestClient) -> None:
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    old = (await execute(admin, workflow_id, n=1))["id"]
    head = (await (await admin.get("/api/v1/audit/verify")).json())["data"]["head"]
    frames: list[SSEFrame] = []

    async def watch() -> None:
        frames.extend(await feed_frames(admin, lambda fs: len(changes(fs)) >= 3))

    watcher = asyncio.ensure_future(watch())
    await asyncio.sleep(0.2)
    new = (await execute(admin, workflow_id, n=2))["id"]
    await watcher
    assert frames[0].event == "ready"
    assert frames[0].id == str(head)
    assert {c["workflowRunId"] for c in changes(frames)} == {new}
    assert old != new


async def test_feed_filters_by_workflow_and_checks_its_parameters(admin: TestClient) -> None:
    quick = await create_workflow(admin, QUICK_WORKFLOW)
    other = await create_workflow(admin, {**QUICK_WORKFLOW, "name": "Other"})
    await execute(admin, other, n=1)
    wanted = (await execute(admin, quick, n=2))["id"]
    await execute(admin, other, n=3)
    frames = await feed_frames(admin, saw_run_end(wanted), {"workflowId": quick, "lastEventId": "0"})
    assert {c["workflowId"] for c in changes(frames)} == {quick}
    assert (await admin.get(FEED, params={"workflowId": "nope"})).status == 400
    missing = "00000000-0000-4000-8000-000000000000"
    assert (await admin.get(FEED, params={"workflowId": missing})).status == 404
    assert (await admin.get(FEED, headers={"Last-Event-ID": "x1"})).status == 400
    beyond = await admin.get(FEED, headers={"Last-Event-ID": "999999"})
    assert beyond.status == 409
    assert (await beyond.json())["error"]["code"] == "cursor_beyond_log"


async def test_feed_of_another_workspaces_workflow_is_404(
    admin: TestClient, new_client: ClientFactory
) -> None:
    bob, _ = await user_with_workspace(new_client, admin, "bob")
    admin_wf = await create_workflow(admin, APPROVAL_WORKFLOW)
    resp = await bob.get(FEED, params={"workflowId": admin_wf})
    assert resp.status == 404


# -- audit ------------------------------------------------------------------------------


async def test_audit_verify_reports_the_chain_to_admins_only(
    admin: TestClient, new_client: ClientFactory
) -> None:
    workflow_id = await create_workflow(admin, QUICK_WORKFLOW)
    await execute(admin, workflow_id, n=1)
    resp = await admin.get("/api/v1/audit/verify")
    data = (await resp.json())["data"]
    assert resp.status == 200
    assert data["ok"] is True
    assert data["firstBadPosition"] is None
    assert data["checked"] == data["head"] > 0
    last = (await (await admin.get("/api/v1/events", params={
        "after": str(data["head"] - 1)})).json())["data"]
    assert data["headHash"] == last[0]["hash"]
    bob, _ = await user_with_workspace(new_client, admin, "bob")
    assert (await bob.get("/api/v1/audit/verify")).status == 403
    anon = await new_client()
    assert (await anon.get("/api/v1/audit/verify")).status == 401
