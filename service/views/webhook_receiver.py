"""/hooks/{webhookId}: a delivery starts a run of the webhook's workflow.

No session or token of ours is asked for (the authentication middleware lets this path
through untouched, CSRF rule included): the webhook's own auth decides, checked over the
raw bytes before anything parses them. Every delivery to a webhook that exists is
recorded with what it was answered. The steps, each refusing with nothing started:
method, rate, enabled, body size, credentials, body, idempotency; then the run, answered
as the webhook's response mode says.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web
from pydantic import ConfigDict

from eventstore.errors import EventTooLarge
from projections.queries import RunQueries
from projections.vocabulary import TERMINAL_RUN_STATUSES
from service import keys
from service.content_types import is_json_type
from service.dialects import v1
from service.engine.engine import EngineNotRunning
from service.errors import ApiError
from service.ids import UUID_RE
from service.routing import (
    BAD_REQUEST,
    FORBIDDEN,
    NOT_FOUND,
    TOO_LARGE,
    TOO_MANY_REQUESTS,
    UNAUTHORIZED,
    UNAVAILABLE,
    Access,
    Content,
    PathParam,
    Problem,
    Reply,
    RouteTable,
    Shape,
    bare,
)
from service.streams.endpoint import RESUME_PATH, serve_run_stream
from service.triggers import idempotency
from service.triggers.webhook_auth import Verdict, credential_headers, verify_hmac, verify_token
from service.triggers.webhooks import Delivery, Webhook, WebhookRepository, hook_path
from service.views.body import RequestModel
from service.views.models.webhooks import WebhookAccepted, WebhookResult
from service.views.workflow_runs import V1_EVENTS
from service.workflows.errors import WorkflowNotFound

# Kept out of the run's trigger data (with the webhook's own credential header): our
# credentials, and the signatures senders put beside the one a webhook checks (GitHub
# sends a SHA-1 one with the SHA-256 one).
HIDDEN_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization",
                            "x-hub-signature", "x-hub-signature-256", "stripe-signature"})
FORM = "application/x-www-form-urlencoded"
READ_CHUNK = 65_536


class WebhookPayload(RequestModel):
    """Any body: JSON (parsed), an urlencoded form (its fields) or anything else (its
    text), given to the run as `trigger.data.body`."""

    model_config = ConfigDict(extra="allow")
    accepts_forms = True


class Refused(ApiError):
    """A delivery answered with an error; `signature` is what its credentials came to."""

    def __init__(self, status: int, code: str, message: str, signature: str = "unchecked",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status, code, message, headers=headers)
        self.signature = signature


@dataclass(frozen=True, slots=True)
class WebhookAccess:
    """A delivery's stream (`stream` mode) is the webhook's: it holds while the webhook
    exists and is enabled, and counts against the per-holder stream limit."""

    repo: WebhookRepository
    webhook_id: str
    workspace_id: str | None

    @property
    def user_id(self) -> str:
        return f"webhook:{self.webhook_id}"

    async def still_allowed(self) -> bool:
        webhook = await self.repo.get(self.webhook_id)
        return webhook is not None and webhook.enabled


async def _read_body(request: web.Request, limit: int) -> bytes:
    """The raw body, 413 beyond `limit` (read here: the app's own limit is for the API)."""
    too_large = Refused(413, "too_large", f"a delivery's body is at most {limit} bytes")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    chunks, size = [], 0
    while chunk := await request.content.read(READ_CHUNK):
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def _check_credentials(request: web.Request, webhook: Webhook, body: bytes,
                             now: float) -> Verdict:
    config = webhook.config
    if webhook.auth == "none":
        return Verdict("unsigned")
    spec = config[webhook.auth]
    secret = await request.app[keys.WORKSPACE_SECRETS].value(webhook.workspace_id,
                                                             spec["secret"])
    if secret is None:
        return Verdict("unchecked", f"the webhook's secret {spec['secret']!r} is not set")
    if webhook.auth == "token":
        return verify_token(spec, secret, request.headers)
    return verify_hmac(spec, secret, request.headers, body, now)


def _query(request: web.Request) -> dict[str, Any]:
    query: dict[str, Any] = {}
    for name in request.query:
        values = request.query.getall(name)
        query[name] = values[0] if len(values) == 1 else values
    return query


def _parse(content_type: str, body: bytes) -> Any:
    if not body:
        return None
    if is_json_type(content_type):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise Refused(400, "bad_request", "the body is not valid JSON") from None
    text = body.decode("utf-8", errors="replace")
    if content_type == FORM:
        fields: dict[str, Any] = {}
        for name, value in parse_qsl(text, keep_blank_values=True):
            if name in fields:
                previous = fields[name]
                fields[name] = [*previous, value] if isinstance(previous, list) \
                    else [previous, value]
            else:
                fields[name] = value
        return fields
    return text


def trigger_data(request: web.Request, webhook: Webhook, body: bytes) -> dict[str, Any]:
    """What the run gets (merged over the workflow's `trigger.staticData`)."""
    hidden = HIDDEN_HEADERS | credential_headers(webhook.config)
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        lower = name.lower()
        if lower not in hidden:
            headers[lower] = f"{headers[lower]}, {value}" if lower in headers else value
    return {"body": _parse(request.content_type, body), "headers": headers,
            "query": _query(request), "method": request.method}


def _delivery_key(request: web.Request, webhook: Webhook) -> str | None:
    header = webhook.idempotency_header
    key = request.headers.get(header) if header else None
    if key is None:
        key = request.headers.get(idempotency.HEADER)
    if key is None and _timestamped(webhook):
        # A signed, timestamped delivery (Stripe's `t=`, or a timestamp header) is accepted
        # again for as long as its tolerance: its signature stands in for the delivery id
        # the sender did not send, so a replay within the window names the first run.
        signature = request.headers.get(str(webhook.config["hmac"]["header"]), "")
        stamp = request.headers.get(str(webhook.config["hmac"].get("timestampHeader") or ""), "")
        key = "signed:" + hashlib.sha256(f"{stamp}\n{signature}".encode()).hexdigest()
    return key


def _timestamped(webhook: Webhook) -> bool:
    spec = webhook.config.get("hmac") if webhook.config.get("auth") == "hmac" else None
    return isinstance(spec, dict) and bool(
        spec.get("format") == "stripe" or spec.get("timestampHeader"))


async def _start(request: web.Request, webhook: Webhook, body: bytes,
                 signature: str) -> tuple[str, bool]:
    """Start the delivery's run, once per delivery key; its id and whether an earlier
    delivery started it."""
    data = trigger_data(request, webhook, body)
    key = _delivery_key(request, webhook)
    engine = request.app[keys.ENGINE]

    async def start(run_id: str) -> None:
        try:
            await engine.start_run(
                webhook.workflow_id, webhook.workspace_id, data, {}, webhook.created_by,
                run_id=run_id, triggered_by={"kind": "webhook", "id": webhook.id},
                idempotency_key=key)
        except WorkflowNotFound:
            raise Refused(404, "not_found", "the webhook's workflow is gone",
                          signature) from None
        except EventTooLarge as exc:
            raise Refused(413, "too_large", str(exc), signature) from None
        except EngineNotRunning:
            raise Refused(503, "unavailable", "the service is stopping", signature) from None

    proposed = str(uuid.uuid4())
    if key is None:
        await start(proposed)
        return proposed, False
    try:
        idempotency.check_key(key)
    except idempotency.BadIdempotencyKey as exc:
        raise Refused(400, "bad_request", str(exc), signature) from None
    digest = idempotency.fingerprint({
        "method": request.method, "query": data["query"],
        "body": hashlib.sha256(body).hexdigest()})
    try:
        run_id = await request.app[keys.IDEMPOTENCY].start_once(
            f"webhook:{webhook.id}", key, digest, proposed, start)
    except idempotency.KeyReused as exc:
        raise Refused(422, "idempotency_key_reused", str(exc), signature) from None
    return run_id, run_id != proposed


async def _answer(request: web.Request, webhook: Webhook, run_id: str) -> web.StreamResponse:
    accepted = {"runId": run_id, "streamUrl": RESUME_PATH.format(run_id=run_id)}
    headers = {"X-Workflow-Run-Id": run_id}
    mode = webhook.response_mode
    queries = RunQueries(request.app[keys.STORE])
    if mode == "lastNode":
        try:
            await asyncio.wait_for(request.app[keys.ENGINE].wait(run_id),
                                   request.app[keys.SETTINGS].webhook_wait_s)
        except TimeoutError:
            return web.json_response(accepted, status=202, headers=headers,
                                     dumps=lambda v: orjson.dumps(v).decode())
        run = await queries.get_run(run_id)
        assert run is not None
        if run["status"] not in TERMINAL_RUN_STATUSES:
            # Driven by another node (a repeat delivery there): wait() could only read it.
            return web.json_response(accepted, status=202, headers=headers,
                                     dumps=lambda v: orjson.dumps(v).decode())
        return web.json_response(
            {"runId": run_id, "status": v1.RUN_STATUS_WORDS[run["status"]],
             "output": run["output"], "error": run["error"]},
            headers=headers, dumps=lambda v: orjson.dumps(v).decode())
    if mode == "stream":
        run = await queries.get_run(run_id)
        assert run is not None
        access = WebhookAccess(request.app[keys.WEBHOOKS], webhook.id, webhook.workspace_id)
        return await serve_run_stream(
            request, run, v1.V1Dialect(request.app[keys.FRAMES]), queries, cursor=0,
            headers={**headers, "X-Workflow-Run-Stream": accepted["streamUrl"]},
            quota_checked=True, access=access)
    return web.json_response(accepted, status=202, headers=headers,
                             dumps=lambda v: orjson.dumps(v).decode())


async def _deliver(request: web.Request, webhook: Webhook, now: float) -> Delivery:
    """Everything after the webhook is found; raises Refused. The delivery, answered."""
    app = request.app
    settings = app[keys.SETTINGS]
    method = request.method
    if method not in webhook.methods:
        raise Refused(405, "method_not_allowed", f"this webhook takes {', '.join(webhook.methods)}",
                      headers={"Allow": ", ".join(webhook.methods)})
    if not webhook.enabled:
        raise Refused(403, "forbidden", "this webhook is disabled")
    body = await _read_body(request, settings.webhook_max_body_bytes)
    verdict = await _check_credentials(request, webhook, body, now)
    if not verdict.ok:
        raise Refused(401, "unauthorized", verdict.message or "not signed", verdict.result)
    # Counted only once the credentials hold: forged requests must not use up the rate
    # of the sender the webhook is for.
    wait_s = app[keys.WEBHOOK_RATE].admit(webhook.id)
    if wait_s:
        raise Refused(429, "too_many_requests",
                      f"at most {settings.webhook_rate_per_minute} deliveries a minute",
                      headers={"Retry-After": str(wait_s)}, signature=verdict.result)
    if webhook.response_mode == "stream":
        try:  # before the run starts: a stream refused later would leave it unwatched
            app[keys.STREAMS].check_quota(f"webhook:{webhook.id}")
        except ApiError as exc:
            raise Refused(exc.status, exc.code, exc.message, verdict.result) from None
    run_id, repeat = await _start(request, webhook, body, verdict.result)
    return Delivery(webhook.id, method, 0, verdict.result, run_id, repeat)


async def receive(request: web.Request) -> web.StreamResponse:
    now = time.time()
    webhook_id = request.match_info["webhookId"]
    repo = request.app[keys.WEBHOOKS]
    webhook = await repo.get(webhook_id.lower()) if UUID_RE.fullmatch(webhook_id) else None
    if webhook is None:
        raise ApiError(404, "not_found", "no such webhook")
    try:
        delivery = await _deliver(request, webhook, now)
    except Refused as exc:
        # A refusal is recorded for the editor, but never beyond the webhook's rate a
        # minute (a flood of forged or surplus requests costs no writes), and a 429 never.
        if exc.status != 429 and not request.app[keys.WEBHOOK_REFUSALS].admit(webhook.id):
            await repo.record(Delivery(webhook.id, request.method, exc.status,
                                       exc.signature, message=exc.message), now)
        raise
    assert delivery.run_id is not None
    response = await _answer(request, webhook, delivery.run_id)
    status = response.status
    await repo.record(Delivery(webhook.id, delivery.method, status, delivery.signature,
                               delivery.run_id, delivery.repeat), now)
    return response


def register_routes(table: RouteTable) -> None:
    tag = "webhooks"
    path = hook_path("{webhookId}")
    params = {"webhookId": PathParam("Webhook id (the URL's only name).")}
    accepted = bare(WebhookAccepted, "Started (`immediate`, `minimal`; `lastNode` after "
                                     "webhook_wait_s): the run id and its stream.", 202)
    finished = Reply(200, "`lastNode`: the run's output once it ended; `stream`: the "
                          "run's v1 event stream from its start.", {
        "application/json": Content(Shape.BARE, WebhookResult),
        "text/event-stream": Content(Shape.EVENTS, events=V1_EVENTS)})
    errors = (
        BAD_REQUEST.saying("A body that says JSON and is not, or a bad delivery key."),
        UNAUTHORIZED.saying("A bad, missing or stale signature or token; nothing started."),
        FORBIDDEN.saying("The webhook is disabled; nothing started."),
        NOT_FOUND.saying("No such webhook (or its workflow is gone)."),
        Problem(405, None, "The webhook does not take this method."),
        TOO_LARGE.saying("The body is over webhook_max_body_bytes."),
        TOO_MANY_REQUESTS.saying("Over webhook_rate_per_minute (see Retry-After), or too "
                                 "many open streams of this webhook."),
        UNAVAILABLE)
    description = ("Not signed in: the webhook's own auth decides (HMAC over the raw body, "
                   "or a token). A repeat of a delivery key (the webhook's "
                   "`idempotencyHeader`, else `Idempotency-Key`) within 24 h answers as "
                   "the first did, with the same run.")
    for method, operation_id, summary in (
            ("POST", "deliverWebhook", "Deliver to a webhook: starts a run"),
            ("PUT", "deliverWebhookPut", "Deliver to a webhook with PUT"),
            ("GET", "deliverWebhookGet", "Deliver with GET (the query is the data), where "
                                         "the webhook allows it")):
        table.register(
            method, path, receive, operation_id=operation_id, tag=tag, summary=summary,
            description=description, path_params=params, access=Access.PUBLIC,
            body=WebhookPayload if method != "GET" else None, body_required=False,
            idempotent=True, replies=(finished, accepted), errors=errors)
