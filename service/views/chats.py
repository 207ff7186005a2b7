"""/api/chats (seeds 000 and 001): chats, runs started in a chat, their list and stream.

Cookie sessions (any principal works). A chat belongs to one user: 400 for a malformed
id, 404 for a missing chat or a run that is not in that chat, 403 for another user's chat.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from projections.queries import RunFilter, RunQueries
from service import keys
from service.auth.access import (
    create_chat,
    get_chat_for,
    require_principal,
    require_workspace_role,
    visible_workspace_ids,
)
from service.auth.roles import Role
from service.dialects import chat
from service.errors import not_found
from service.ids import path_uuid
from service.limits import MAX_CHAT_RUNS
from service.routing import (
    BAD_REQUEST,
    FORBIDDEN,
    NOT_FOUND,
    PathParam,
    RouteTable,
    data,
)
from service.routing import stream as stream_reply
from service.streams.endpoint import serve_run_stream
from service.views.body import parse_body
from service.views.lookup import run_gone, start_run
from service.views.models.chat import Chat, ChatRun, ChatRunList, ChatStreamFrame
from service.views.requests import ChatCreate, ChatRunStart
from service.views.responses import data_response
from service.views.stream_docs import RUN_STREAM_ERRORS, STREAM_ENDED, STREAM_RULES

LIST_PAGE = 100


def _queries(request: web.Request) -> RunQueries:
    return RunQueries(request.app[keys.STORE])


async def create(request: web.Request) -> web.Response:
    principal = require_principal(request)
    body = await parse_body(request, ChatCreate, optional=True)
    made = await create_chat(request, principal, body.title)
    return data_response(made, status=201)


async def start_chat_run(request: web.Request) -> web.Response:
    """Start a run in the caller's chat: body {workflowId, inputs, envs}."""
    principal = require_principal(request)
    owned = await get_chat_for(request, principal, request.match_info["chatId"])
    body = await parse_body(request, ChatRunStart)
    run_id = await start_run(request, body.workflowId, body.inputs, body.envs,
                             chat_id=owned["id"])
    queries = _queries(request)
    run = await queries.get_run(run_id)
    assert run is not None
    return data_response(chat.run_json(run, await queries.node_runs(run_id)), status=201)


async def list_chat_runs(request: web.Request) -> web.Response:
    principal = require_principal(request)
    owned = await get_chat_for(request, principal, request.match_info["chatId"])
    run_filter = RunFilter(
        workspace_ids=await visible_workspace_ids(request, principal), chat_id=owned["id"]
    )
    queries = _queries(request)
    runs: list[dict[str, Any]] = []
    while len(runs) < MAX_CHAT_RUNS:
        page, _ = await queries.list_runs(run_filter, len(runs), LIST_PAGE)
        runs += page
        if len(page) < LIST_PAGE:
            break
    listed = [chat.run_json(run, await queries.node_runs(run["id"])) for run in runs]
    return data_response({"workflowRuns": listed})


async def stream(request: web.Request) -> web.StreamResponse:
    principal = require_principal(request)
    # Both ids are checked for form first: a malformed id is 400 whatever else is wrong.
    run_id = path_uuid(request, "runId", "workflow run id")
    owned = await get_chat_for(request, principal, request.match_info["chatId"])
    run = await _queries(request).get_run(run_id)
    if run is None:
        raise await run_gone(request, run_id, Role.VIEWER, chat_id=owned["id"])
    if run["chatId"] != owned["id"]:
        raise not_found("workflow run not found in this chat")
    # The chat is the caller's, but reading a run still needs a place in its workspace.
    await require_workspace_role(request, run["workspaceId"], Role.VIEWER, "workflow run not found")
    return await serve_run_stream(request, run, chat.ChatDialect(), None)


CHAT_ID = PathParam("Chat id.")
CHAT_ERRORS = (
    BAD_REQUEST,
    FORBIDDEN.saying("The chat belongs to another user (and for a write: the CSRF rule, or "
                     "too low a role in the workflow's workspace)."),
    NOT_FOUND,
)


def register_routes(table: RouteTable) -> None:
    tag = "chat"
    table.register(
        "POST", "/api/chats", create, operation_id="createChat", tag=tag,
        summary="Create a chat owned by the caller", body=ChatCreate, body_required=False,
        body_description="Optional.", replies=(data(Chat, "Created.", status=201),),
        errors=(BAD_REQUEST,))
    table.register(
        "POST", "/api/chats/{chatId}/workflow-runs", start_chat_run, operation_id="startChatRun", idempotent=True,
        tag=tag, summary="Start a run in the caller's chat (runner role)",
        path_params={"chatId": CHAT_ID}, body=ChatRunStart,
        replies=(data(ChatRun, "The started run.", status=201),), errors=CHAT_ERRORS)
    table.register(
        "GET", "/api/chats/{chatId}/workflow-runs", list_chat_runs, operation_id="listChatRuns",
        tag=tag, summary="The runs of the caller's chat", path_params={"chatId": CHAT_ID},
        replies=(data(ChatRunList, f"Every run of the chat (at most {MAX_CHAT_RUNS}), not "
                                   "paged."),),
        errors=CHAT_ERRORS)
    table.register(
        "GET", "/api/chats/{chatId}/workflow-runs/{runId}/stream", stream,
        operation_id="streamChatRun", tag=tag, summary="A chat run's events (resumable)",
        path_params={"chatId": CHAT_ID, "runId": PathParam("Workflow run id.")}, cursor=True,
        replies=(stream_reply(
            "Data-only frames `data: {\"type\": ...}` (seed 000); no keepalive. Ends after "
            "run_completed or run_failed. " + STREAM_RULES, {"message": ChatStreamFrame}),
            STREAM_ENDED),
        errors=(*CHAT_ERRORS, NOT_FOUND.saying(
            "Chat not found, or the run is not in this chat."), *RUN_STREAM_ERRORS[2:]))
