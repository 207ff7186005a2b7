"""The shared stream layer through the canonical dialect: resume, cursors, 204, slow clients."""

from __future__ import annotations

import asyncio
import socket
import uuid
from typing import Any

import aiohttp
import httpx
import httpx_sse
import pytest
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from eventstore.records import NewEvent
from projections.vocabulary import EventType
from service import keys
from service.settings import Settings
from tests.support.api import APPROVAL_WORKFLOW, create_workflow, start_waiting_run, wait_for_status
from tests.support.polling import wait_for
from tests.support.sse import SSEFrame, iter_frames, read_frames


def event_frames(frames: list[SSEFrame]) -> list[SSEFrame]:
    """Frames rendered from events (keepalives and the retry line dropped)."""
    return [f for f in frames if f.event != "ping" and f.data_lines]


async def finish_approval(client: TestClient, run_id: str) -> None:
    resp = await client.post(
        f"/api/v1/workflow-runs/{run_id}/nodes/approve/resume", json={"approved": True})
    assert resp.status == 200, await resp.text()


async def test_stream_sends_the_sse_headers_and_retry_once(admin: TestClient) -> None:
    workflow_id = await create_workflow(admin, APPROVAL_WORKFLOW)
    run_id = await start_waiting_run(admin, workflow_id, x=1)
    resp = await admin.get(f"/api/v1/workflow-runs/{run_id}/stream")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/event-stream"
    assert resp.headers["Cache-Control"] == "no-cache"
    assert resp.headers["X-Accel-Buffering"] == "no"
    assert "Content-Encoding" not in resp.headers
    await finish_approval(admin, run_id)
    frames = await read_frames(resp)
    assert [f.retry for f in frames if f.retry is not None] == [2000]
    assert frames[-1].event == "result"


async def test_a_stream_logs_one_request_line_when_it_ends(admin: TestClient) -> None:
    workflow_id = await create_workflow(admin, APPROVAL_WORKFLOW)
    run_id = await start_waiting_run(admin, workflow_id, x=1)
    path = f"/api/v1/workflow-runs/{run_id}/stream"
    with capture_logs() as logs:
        resp = await admin.get(path, headers={"X-Request-Id": "stream-line-1"})
        assert resp.headers["X-Request-Id"] == "stream-line-1"
        await finish_approval(admin, run_id)
        frames = event_frames(await read_frames(resp))
        # The line is written just after the last frame is sent.
        lines = await wait_for(
            lambda: [e for e in logs if e["event"] == "request" and e["path"] == path], 1,
            "no request line for the stream", every_s=0.01)
    assert len(lines) == 1, lines
    assert lines[0]["status"] == 200
    assert lines[0]["stream"] == "terminal"
    # Events, not frames: the completion event is rendered as two frames.
    assert 0 < lines[0]["events"] < len(frames)


async def test_a_client_that_reconnects_gets_exactly_the_rest(admin: TestClient) -> None:
    workflow_id = await create_workflow(admin, APPROVAL_WORKFLOW)
    run_id = await start_waiting_run(admin, workflow_id, x=1)
    url = f"/api/v1/workflow-runs/{run_id}/stream"
    first = await admin.get(url)
    seen: list[SSEFrame] = []
    async for frame in iter_frames(first):
        if frame.data_lines and frame.event != "ping":
            seen.append(frame)
        if frame.event == "activity-run" and frame.json()["content"]["status"] == "waiting":
            break
    first.close()
    await finish_approval(admin, run_id)  # events committed while the client is away
    await wait_for_status(admin, run_id, "completed")
    last_id = [f.id for f in seen if f.id][-1]
    rest = event_frames(await read_frames(await admin.get(url, headers={"Last-Event-ID": last_id})))
    everything = event_frames(await read_frames(await admin.get(url)))
    assert [f.data for f in seen + rest] == [f.data for f in everything]
    ids = [int(f.id) for f in seen + rest if f.id]
    assert ids == sorted(set(ids))
    # The query parameter works the same way as the header.
    by_query = event_frames(await read_frames(await admin.get(f"{url}?lastEventId={last_id}")))
    assert [f.data for f in by_query] == [f.data for f in rest]


async def test_resume_across_the_switch_from_history_to_live(admin: TestClient) -> None:
    """Events appended while clients connect from every cursor: none lost, none repeated."""
    workflow_id = await create_workflow(admin, APPROVAL_WORKFLOW)
    run_id = await start_waiting_run(admin, workflow_id, x=1)
    store = admin.server.app[keys.STORE]  # type: ignore[index]
    url = f"/api/v1/workflow-runs/{run_id}/stream"
    history = await store.read(run_id)
    cursors = [0] + [e.position for e in history]

    async def thinking(i: int) -> None:
        await store.append(run_id, [NewEvent(EventType.NODE_THINKING, {
            "nodeId": "approve", "nodeName": "approve", "nodeType": "approval",
            "text": f"thought {i}"})])

    async def follow(cursor: int) -> list[int]:
        resp = await admin.get(url, headers={"Last-Event-ID": str(cursor)})
        ids: list[int] = []
        async for frame in iter_frames(resp):
            if frame.id:
                ids.append(int(frame.id))
            if frame.event == "thinking" and frame.json()["content"] == "thought 59":
                break
        resp.close()
        return ids

    async def writer() -> None:
        for i in range(60):
            await thinking(i)
            if i % 7 == 0:
                await asyncio.sleep(0)

    results = await asyncio.gather(writer(), *(follow(c) for c in cursors))
    final = [e.position for e in await store.read(run_id)]
    for cursor, ids in zip(cursors, results[1:], strict=True):
        expected = [p for p in final if p > cursor]
        assert ids == expected[: len(ids)], cursor
        assert ids[-1] == expected[-1], cursor


async def test_cursors_are_checked(admin: TestClient) -> None:
    workflow_id = await create_workflow(admin, APPROVAL_WORKFLOW)
    run_id = await start_waiting_run(admin, workflow_id, x=1)
    url = f"/api/v1/workflow-runs/{run_id}/stream"
    for bad in ("abc", "-1", "1.5", "9" * 40, "1e3", " "):
        resp = await admin.get(url, headers={"Last-Event-ID": bad})
        if bad.strip() == "":
            resp.close()
            continue
        assert resp.status == 400, bad
        assert (await resp.json())["error"]["code"] == "bad_request"
    resp = await admin.get(f"{url}?lastEventId=x1")
    assert resp.status == 400
    resp = await admin.get(url, headers={"Last-Event-ID": "999999"})
    assert resp.status == 409
    body = await resp.json()
    assert body["error"]["code"] == "cursor_beyond_log"


async def test_reconnecting_after_the_terminal_event_gets_204(admin: TestClient) -> None:
    workflow_id = await create_workflow(admin, APPROVAL_WORKFLOW)
    run_id = await start_waiting_run(admin, workflow_id, x=1)
    await finish_approval(admin, run_id)
    await wait_for_status(admin, run_id, "completed")
    url = f"/api/v1/workflow-runs/{run_id}/stream"
    frames = await read_frames(await admin.get(url))
    last = [f.id for f in frames if f.id][-1]
    resp = await admin.get(url, headers={"Last-Event-ID": last})
    assert resp.status == 204
    # One before the end still gets the terminal frames, then the stream closes.
    resp = await admin.get(url, headers={"Last-Event-ID": str(int(last) - 1)})
    tail = event_frames(await read_frames(resp))
    assert tail[-1].event == "result"
    assert tail[-1].id == last


async def test_a_maintained_sse_client_reads_the_same_stream(
    admin: TestClient, auth_server: Any
) -> None:
    workflow_id = await create_workflow(admin, APPROVAL_WORKFLOW)
    run_id = await start_waiting_run(admin, workflow_id, x=1)
    await finish_approval(admin, run_id)
    await wait_for_status(admin, run_id, "completed")
    path = f"/api/v1/workflow-runs/{run_id}/stream"
    ours = event_frames(await read_frames(await admin.get(path)))
    token = (await (await admin.post("/api/v1/tokens", json={"name": "sse"})).json())["data"]
    headers = {"Authorization": f"Bearer {token['token']}"}
    url = str(auth_server.make_url(path))
    theirs = []
    async with httpx.AsyncClient(headers=headers) as http:  # noqa: SIM117
        async with httpx_sse.aconnect_sse(http, "GET", url) as source:
            async for sse in source.aiter_sse():
                if sse.event != "ping" and sse.data:
                    theirs.append((sse.id, sse.event, sse.data))
    assert [(event, data) for _, event, data in theirs] == [(f.event, f.data) for f in ours]
    # The spec's last-event-id carries over frames without an id; the final one agrees.
    assert theirs[-1][0] == ours[-1].id
    assert [t[1] for t in theirs][-2:] == ["workflow-run", "result"]


async def test_another_user_cannot_follow_a_run_even_with_a_cursor(
    admin: TestClient, new_client: Any
) -> None:
    from tests.support.auth import create_user, login

    workflow_id = await create_workflow(admin, APPROVAL_WORKFLOW)
    run_id = await start_waiting_run(admin, workflow_id, x=1)
    await create_user(admin, "mallory")
    mallory = await new_client()
    await login(mallory, "mallory", "user-secret-pw")
    for headers in ({}, {"Last-Event-ID": "1"}):
        resp = await mallory.get(f"/api/v1/workflow-runs/{run_id}/stream", headers=headers)
        assert resp.status == 404
    resp = await mallory.get(f"/api/v1/workflow-runs/{run_id}/stream?lastEventId=1")
    assert resp.status == 404
    assert (await mallory.get(f"/api/v1/workflow-runs/{uuid.uuid4()}/stream")).status == 404


@pytest.fixture
def slow_settings(tmp_path: Any) -> Settings:
    from tests.support.auth import make_settings

    return make_settings(tmp_path, stream_write_deadline_s=0.5, stream_buffer_bytes=16384)


async def test_a_client_that_never_reads_is_dropped(
    aiohttp_server: Any, aiohttp_client: Any, slow_settings: Settings
) -> None:
    from service.app import create_app
    from tests.support.auth import ADMIN_PASSWORD, login

    server = await aiohttp_server(create_app(slow_settings))
    client = await aiohttp_client(server)
    await login(client, "admin", ADMIN_PASSWORD)
    workflow_id = await create_workflow(client, APPROVAL_WORKFLOW)
    run_id = await start_waiting_run(client, workflow_id, x=1)
    token = (await (await client.post("/api/v1/tokens", json={"name": "t"})).json())["data"]
    app = server.app
    # A raw socket with a tiny receive buffer that sends a request and never reads.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (server.host, server.port))
    request = (
        f"GET /api/v1/workflow-runs/{run_id}/stream HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {token['token']}\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    await wait_for(lambda: len(app[keys.STREAMS]) == 1, 2, "the stalled client's stream never opened")
    store = app[keys.STORE]
    big = "x" * 65536
    for i in range(200):  # ~13 MB the client will never read
        await store.append(run_id, [NewEvent(EventType.NODE_THINKING, {
            "nodeId": "approve", "nodeName": "approve", "nodeType": "approval",
            "text": f"{i} {big}"})])
        if not app[keys.STREAMS]:
            break
    await wait_for(lambda: not app[keys.STREAMS], 10, "the stalled stream was not dropped",
                   every_s=0.05)
    sock.close()
    metrics = await (await client.get("/metrics")).text()
    assert 'runstream_streams_dropped_slow_total{dialect="v1"} 1.0' in metrics.splitlines()
    # The run itself is untouched, and a reader that does read still gets everything.
    resp = await client.get(f"/api/v1/workflow-runs/{run_id}/stream?lastEventId=0")
    count = 0
    async for frame in iter_frames(resp):
        if frame.event == "thinking":
            count += 1
            if count == i + 1:
                break
    resp.close()
    assert count == i + 1


async def test_shutdown_closes_open_streams_cleanly(
    aiohttp_server: Any, aiohttp_client: Any, auth_settings: Settings
) -> None:
    from service.app import create_app
    from tests.support.auth import ADMIN_PASSWORD, login

    server = await aiohttp_server(create_app(auth_settings))
    client = await aiohttp_client(server)
    await login(client, "admin", ADMIN_PASSWORD)
    workflow_id = await create_workflow(client, APPROVAL_WORKFLOW)
    run_id = await start_waiting_run(client, workflow_id, x=1)
    resp = await client.get(f"/api/v1/workflow-runs/{run_id}/stream")
    reader = asyncio.ensure_future(read_frames(resp))
    await asyncio.sleep(0.1)
    await server.close()
    frames = await asyncio.wait_for(reader, 10)  # ends, without an error
    assert any(f.event == "workflow-run" for f in frames)


@pytest.mark.parametrize(("choice", "final"), [("cancel", "cancelled"), ("continue", "waiting")])
async def test_on_disconnect_decides_what_a_dropped_execute_stream_does(
    admin: TestClient, choice: str, final: str
) -> None:
    workflow_id = await create_workflow(admin, APPROVAL_WORKFLOW)
    resp = await admin.post(
        f"/api/v1/workflow-runs/execute/stream?onDisconnect={choice}",
        json={"workflowId": workflow_id, "inputs": {"x": 1}})
    assert resp.status == 200
    run_id = resp.headers["X-Workflow-Run-Id"]
    assert resp.headers["X-Workflow-Run-Stream"] == f"/api/v1/workflow-runs/{run_id}/stream"
    async for frame in iter_frames(resp):
        if frame.event == "activity-run" and frame.json()["content"]["status"] == "waiting":
            break
    resp.close()
    run = await wait_for_status(admin, run_id, final)
    if final == "cancelled":
        assert run["cancelReason"] == "client disconnected"
    else:
        await asyncio.sleep(0.3)  # a late cancel would show by now
        assert (await wait_for_status(admin, run_id, "waiting"))["status"] == "waiting"


async def test_on_disconnect_must_be_a_known_choice(admin: TestClient) -> None:
    workflow_id = await create_workflow(admin, APPROVAL_WORKFLOW)
    resp = await admin.post("/api/v1/workflow-runs/execute/stream?onDisconnect=maybe",
                            json={"workflowId": workflow_id})
    assert resp.status == 400
    listed = await (await admin.get("/api/v1/workflow-runs")).json()
    assert listed["pagination"]["total"] == 0


async def test_head_on_a_stream_sends_headers_only_and_keeps_the_connection(
    admin: TestClient,
) -> None:
    workflow_id = await create_workflow(admin, APPROVAL_WORKFLOW)
    run_id = await start_waiting_run(admin, workflow_id, x=1)
    resp = await admin.head(f"/api/v1/workflow-runs/{run_id}/stream")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/event-stream"
    assert await resp.read() == b""
    assert not admin.server.app[keys.STREAMS]  # type: ignore[index]
    # The same keep-alive connection answers the next request.
    assert (await admin.get(f"/api/v1/workflow-runs/{run_id}")).status == 200


async def test_a_failing_stream_is_cut_off_and_logged_and_the_client_can_resume(
    aiohttp_client: Any, auth_settings: Settings
) -> None:
    """A bug while serving (here a renderer that fails on its second event) must not end
    the body cleanly, which would look like the end of the stream: the body is cut off,
    the error is logged with the request's line, and a reconnect resumes after the last
    event the client got."""
    from service.app import create_app
    from service.auth.access import LiveAccess, require_principal
    from service.streams.cursor import parse_cursor
    from service.streams.serving import EventStreamResponse, StreamOptions, encoding
    from service.streams.sse import Frame
    from tests.support.auth import ADMIN_PASSWORD, login

    app = create_app(auth_settings)
    failures = []

    async def render(event: Any) -> list[Frame]:
        if event.position == 2 and not failures:
            failures.append(event.position)
            raise ValueError("renderer bug")
        return [Frame(str(event.position).encode())]

    async def broken_stream(request: Any) -> EventStreamResponse:
        store = request.app[keys.STORE]
        access = LiveAccess(request, require_principal(request))
        return EventStreamResponse(store.subscribe("s", parse_cursor(request)),
                                   encoding(render), StreamOptions(), access=access)

    app.router.add_get("/test/broken-stream", broken_stream)
    client = await aiohttp_client(app)
    await login(client, "admin", ADMIN_PASSWORD)
    store = app[keys.STORE]
    for i in range(3):
        await store.append("s", [NewEvent("Test", {"i": i})])
    positions = [e.position for e in await store.read("s", 0, 10)]
    with capture_logs() as logs:
        resp = await client.get("/test/broken-stream")
        got: list[str] = []

        async def read_ids() -> None:
            async for frame in iter_frames(resp):
                if frame.id is not None:
                    got.append(frame.id)

        with pytest.raises(aiohttp.ClientPayloadError):  # the chunked body never ends
            await read_ids()
    assert got == [str(positions[0])]
    assert any(e["event"] == "stream failed" and e["log_level"] == "error" for e in logs)
    line = [e for e in logs if e["event"] == "request"]
    assert line
    assert line[0]["stream"] == "error"
    assert line[0]["events"] == 1
    resumed = await client.get("/test/broken-stream", headers={"Last-Event-ID": got[-1]})
    rest: list[str] = []
    async for frame in iter_frames(resumed):
        if frame.id is not None:
            rest.append(frame.id)
        if len(rest) == 2:
            break
    assert rest == [str(p) for p in positions[1:]]


async def test_a_user_may_hold_only_so_many_streams_and_a_left_one_frees_its_place(
    aiohttp_client: Any, tmp_path: Any
) -> None:
    from service.app import create_app
    from tests.support.auth import ADMIN_PASSWORD, login, make_settings

    settings = make_settings(tmp_path, stream_max_per_user=2, stream_disconnect_check_s=0.1)
    app = create_app(settings)
    client = await aiohttp_client(app)
    await login(client, "admin", ADMIN_PASSWORD)
    workflow_id = await create_workflow(client, APPROVAL_WORKFLOW)
    run_id = await start_waiting_run(client, workflow_id, x=1)
    url = f"/api/v1/workflow-runs/{run_id}/stream"
    first, second = await client.get(url), await client.get(url)
    assert first.status == second.status == 200
    for refused in (await client.get(url), await client.get("/api/v1/events/stream"),
                    await client.post("/api/v1/workflow-runs/execute/stream",
                                      json={"workflowId": workflow_id, "inputs": {"x": 2}})):
        assert refused.status == 429
        body = await refused.json()
        assert body["error"]["code"] == "too_many_requests"
        assert body["error"]["details"] == {"openStreams": 2, "limit": 2}
    # The refused execute/stream started no run.
    runs = await (await client.get("/api/v1/workflow-runs")).json()
    assert runs["pagination"]["total"] == 1
    # A client that leaves without a word is noticed while its run is idle, and its
    # place is free again.
    first.close()
    await wait_for(lambda: len(app[keys.STREAMS]) < 2, 5, "the silent client's place was not freed",
                   every_s=0.05)
    third = await client.get(url)
    assert third.status == 200
    second.close()
    third.close()
