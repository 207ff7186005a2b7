"""The OpenAPI 3.1 document of the whole HTTP API, served at `GET /api/v1/openapi.json`.

Written by hand from the views (service/views) and kept true by tests/test_openapi.py,
which checks that every route of `create_app` is documented and nothing else is, and
that the document passes openapi-spec-validator. Schemas are JSON Schema 2020-12 (the
OpenAPI 3.1 dialect): a value that may be null is `{"type": [..., "null"]}`.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import orjson
from aiohttp import web
from pydantic.json_schema import models_json_schema

from service.auth.roles import ROLE_NAMES
from service.auth.setup import SESSION_COOKIE
from service.dialects import v1
from service.engine.registry import default_registry
from service.outcomes import CANCEL_OUTCOME_MEANINGS, CancelOutcome
from service.views import requests
from service.views.body import RequestModel
from service.views.queries import (
    MAX_PAGE_LIMIT,
    EventPageQuery,
    PageQuery,
    RunListQuery,
    WorkflowListQuery,
    query_parameters,
)
from service.workflows.schema import SCHEMA_ID, definition_components

OPENAPI_PATH = "/api/v1/openapi.json"

Schema = dict[str, Any]

# -- small schema helpers ------------------------------------------------------------


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    """`schema` or null (JSON Schema 2020-12: no `nullable` keyword in OpenAPI 3.1)."""
    if "type" in schema and "$ref" not in schema:
        kind = schema["type"]
        kinds = kind if isinstance(kind, list) else [kind]
        return {**schema, "type": [*kinds, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def string(description: str | None = None, **extra: Any) -> Schema:
    schema: Schema = {"type": "string", **extra}
    if description:
        schema["description"] = description
    return schema


def integer(description: str | None = None, **extra: Any) -> Schema:
    schema: Schema = {"type": "integer", **extra}
    if description:
        schema["description"] = description
    return schema


def boolean(description: str | None = None, **extra: Any) -> Schema:
    schema: Schema = {"type": "boolean", **extra}
    if description:
        schema["description"] = description
    return schema


def array(items: Schema, description: str | None = None, **extra: Any) -> Schema:
    schema: Schema = {"type": "array", "items": items, **extra}
    if description:
        schema["description"] = description
    return schema


def obj(
    properties: dict[str, Schema],
    required: list[str] | None = None,
    description: str | None = None,
    additional: bool | Schema | None = None,
) -> Schema:
    """An object; `required` defaults to every property (response shapes are complete)."""
    schema: Schema = {"type": "object", "properties": properties}
    req = list(properties) if required is None else required
    if req:
        schema["required"] = req
    if description:
        schema["description"] = description
    if additional is not None:
        schema["additionalProperties"] = additional
    return schema


ANY: Schema = {"description": "Any JSON value."}
UUID = string(format="uuid")
TIMESTAMP = string("ISO 8601 time (UTC).", format="date-time")
JSON_OBJECT: Schema = {"type": "object", "additionalProperties": True}


def data_of(schema: Schema) -> Schema:
    """The canonical success body `{"data": ...}`."""
    return obj({"data": schema})


def page_of(item: Schema) -> Schema:
    """A canonical list body `{"data": [...], "pagination": {...}}`."""
    return obj({"data": array(item), "pagination": ref("Pagination")})


# -- operation helpers ---------------------------------------------------------------


def json_content(schema: Schema) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def response(description: str, schema: Schema | None = None,
             headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description}
    if schema is not None:
        out["content"] = json_content(schema)
    if headers:
        out["headers"] = headers
    return out


def err(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


def header(description: str, schema: Schema | None = None) -> dict[str, Any]:
    return {"description": description, "schema": schema or string()}


def path_param(name: str, description: str, schema: Schema | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": schema or UUID}


def query_param(name: str, description: str, schema: Schema) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}


def param_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


def json_body(schema: Schema, required: bool = True, description: str | None = None,
              forms: bool = False, json_fields: tuple[str, ...] = ()) -> dict[str, Any]:
    """A request body: JSON, and with `forms` also urlencoded and multipart fields
    (form fields named in `json_fields` carry JSON text)."""
    content: dict[str, Any] = json_content(schema)
    if forms:
        encoding = {name: {"contentType": "application/json"} for name in json_fields}
        for media_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
            content[media_type] = {"schema": schema}
            if encoding:
                content[media_type]["encoding"] = copy.deepcopy(encoding)
    body: dict[str, Any] = {"required": required, "content": content}
    if description:
        body["description"] = description
    return body


PUBLIC: list[dict[str, list[str]]] = []
# Anonymous callers are served too; a session or token is used when one is sent.
OPTIONAL_AUTH: list[dict[str, list[str]]] = [{}, {"cookieAuth": []}, {"bearerAuth": []}]

# Errors any authenticated operation can answer: no or bad credentials, and the log
# store being unavailable.
AUTHED_ERRORS = {"401": err("Unauthorized"), "503": err("Unavailable")}
# Cookie-authenticated writes also get 403 from the CSRF rule.
WRITE_ERRORS = {"403": err("Forbidden")}
# Any operation that reads a body: 413 past the app's `client_max_size`.
BODY_ERRORS = {"413": err("PayloadTooLarge")}


def operation(
    operation_id: str,
    summary: str,
    tags: list[str],
    responses: dict[str, Any],
    *,
    description: str | None = None,
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    security: list[dict[str, list[str]]] | None = None,
    write: bool = False,
    authed: bool = True,
) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": operation_id, "summary": summary, "tags": tags}
    if description:
        op["description"] = description
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = body
    if security is not None:
        op["security"] = security
    all_responses: dict[str, Any] = {}
    if authed:
        all_responses.update(AUTHED_ERRORS)
    if write:
        all_responses.update(WRITE_ERRORS)
    if body is not None:
        all_responses.update(BODY_ERRORS)
    all_responses.update(responses)
    all_responses["default"] = err("Internal")
    op["responses"] = dict(sorted(all_responses.items()))
    return op


# -- server-sent events --------------------------------------------------------------

SSE_HEADERS = {
    "Cache-Control": header("Always `no-cache`."),
    "X-Accel-Buffering": header("Always `no` (proxies must not buffer the stream)."),
}

RESUME_PARAMETERS = [param_ref("LastEventIdHeader"), param_ref("LastEventIdQuery")]

STREAM_RULES = (
    "Every frame rendering a log event carries `id:` = that event's global log position "
    "(keepalives carry none). Reconnecting with `Last-Event-ID` (header) or `lastEventId` "
    "(query) resumes right after that position, with no gap and no duplicate. A malformed "
    "cursor is 400; a cursor beyond the end of the log is 409 `cursor_beyond_log`; "
    "reconnecting after the run's terminal event is 204. A client that stops reading is "
    "dropped after a bounded buffer or write deadline and resumes with no loss. Access is "
    "checked on every (re)connect."
)


def sse_response(description: str, events: dict[str, Schema],
                 headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """A `text/event-stream` 200; `x-sse-events` maps each frame to its `data:` schema."""
    return {
        "description": description,
        "headers": {**SSE_HEADERS, **(headers or {})},
        "content": {
            "text/event-stream": {
                "schema": string("Server-sent events (WHATWG HTML), UTF-8."),
                "x-sse-events": events,
            }
        },
    }


# Every operation that opens a stream may meet the per-user limit on open streams.
STREAM_QUOTA = {"429": err("TooManyStreams")}


def stream_errors(resumable: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"400": err("BadRequest"), "404": err("NotFound"), **STREAM_QUOTA}
    if resumable:
        out["204"] = {"description": "The run ended and the cursor is at or after its "
                                     "terminal event: nothing more to send (an EventSource "
                                     "stops reconnecting)."}
        out["409"] = err("CursorBeyondLog")
    return out


# -- components ----------------------------------------------------------------------

RUN_STATUS_WORDS = list(v1.RUN_STATUS_WORDS.values())
NODE_STATUS_WORDS = list(v1.NODE_STATUS_WORDS.values())
ROLES = list(ROLE_NAMES)
CANCEL_OUTCOMES = [outcome.value for outcome in CancelOutcome]


def _workflow_schemas() -> dict[str, Schema]:
    # The definition, its nodes and each node type's params: the model that validates a
    # definition on save (service/workflows/schema.py), with every installed node type.
    components = definition_components(default_registry(), "#/components/schemas/{model}")
    definition = components["WorkflowDefinition"]
    # A body is a definition plus the workspace it belongs to.
    workflow_input = {**definition, "properties": {**definition["properties"], "workspaceId": (
        string("`default` (the default) or a workspace UUID; a workflow cannot move to "
               "another workspace."))}}
    workflow = obj({
        "id": UUID,
        "workspaceId": string("`default` or a UUID."),
        "name": string(),
        "version": integer("The version shown.", minimum=1),
        "latestVersion": integer(minimum=1),
        "definition": {**JSON_OBJECT, "description": (
            "The definition as it was saved (a version saved under older rules is shown "
            "as it is; see WorkflowDefinition for what a save accepts today).")},
        "createdBy": nullable(string("User id.")),
        "createdAt": TIMESTAMP,
        "updatedAt": TIMESTAMP,
    })
    return {
        **components,
        "WorkflowInput": workflow_input,
        "Workflow": workflow,
        "WorkflowDetail": {"allOf": [ref("Workflow"), obj({
            "versions": array(integer(minimum=1), "Every stored version number."),
        })]},
    }


def _run_schemas() -> dict[str, Schema]:
    activity = obj({
        "id": UUID,
        "stepId": string("The node id."),
        "stepName": nullable(string()),
        "stepType": nullable(string()),
        "status": string(enum=NODE_STATUS_WORDS),
        "outputs": {"description": "The node's output (any JSON), null until it has one."},
        "error": {"description": "The node's error (text or object), or null."},
        "attempt": integer("Retry attempt, from 1.", minimum=0),
        "progress": nullable({"type": "number"}),
        "durationMs": nullable(integer(minimum=0)),
        "createdAt": TIMESTAMP,
        "updatedAt": TIMESTAMP,
    })
    run = obj({
        "id": UUID,
        "workflowId": UUID,
        "workflowName": nullable(string()),
        "workflowVersion": integer(minimum=1),
        "workspaceId": string(),
        "chatId": nullable(UUID),
        "parentRunId": nullable(UUID),
        "status": string(enum=RUN_STATUS_WORDS),
        "inputs": array(obj({"name": string(), "value": ANY}), "Input values by name."),
        "outputs": {"description": "The run's output: the outputs of the nodes with no "
                                   "successors, by node id; null until it ends."},
        "error": {"description": "Why the run failed, or null."},
        "cancelReason": nullable(string()),
        "createdBy": nullable(string("User id.")),
        "createdAt": TIMESTAMP,
        "startedAt": nullable(TIMESTAMP),
        "updatedAt": TIMESTAMP,
        "finishedAt": nullable(TIMESTAMP),
    })
    cancel_result = obj({
        "results": array(obj({
            "runId": UUID,
            "status": string(enum=CANCEL_OUTCOMES, description="; ".join(
                f"{outcome} ({meaning})" for outcome, meaning in CANCEL_OUTCOME_MEANINGS.items())),
            "message": string(),
        }, required=["runId", "status"])),
    })
    dashboard = obj({
        "workflowId": UUID,
        "total": integer(minimum=0),
        "counts": obj({word: integer(minimum=0) for word in RUN_STATUS_WORDS}),
    })
    event = obj({
        "position": integer("Global log position.", minimum=1),
        "stream": string("The run id (stream) the event belongs to."),
        "version": integer("Position within its stream.", minimum=1),
        "type": string(),
        "data": JSON_OBJECT,
        "recordedAt": TIMESTAMP,
        "prevHash": string(),
        "hash": string(),
    }, description="One event of the tamper-evident log.")
    feed = obj({
        "workflowRunId": UUID, "workflowId": UUID, "status": string(enum=RUN_STATUS_WORDS),
        "updatedAt": TIMESTAMP,
    })
    verification = obj({
        "ok": boolean("Every link of the chain holds."),
        "checked": integer("Events checked.", minimum=0),
        "head": integer("The log's last position.", minimum=0),
        "headHash": nullable(string(
            "The hash of the last event when ok: keep it elsewhere, truncating the newest "
            "events is only detectable against a head kept elsewhere.")),
        "firstBadPosition": nullable(integer(minimum=1)),
        "reason": nullable(string()),
        "verifiedAt": TIMESTAMP,
    })
    return {
        "RunFeedReady": obj({"after": integer("The position the feed starts after.",
                                              minimum=0)}),
        "RunFeedFrame": feed,
        "LogVerification": verification,
        "ActivityRun": activity,
        "WorkflowRun": run,
        "WorkflowRunDetail": {"allOf": [ref("WorkflowRun"), obj({
            "activityRuns": array(ref("ActivityRun")),
        })]},
        "CancelResult": cancel_result,
        "DashboardCounts": dashboard,
        "Event": event,
    }


def _identity_schemas() -> dict[str, Schema]:
    user = obj({"id": UUID, "username": string(), "isAdmin": boolean(),
                "createdAt": TIMESTAMP})
    workspace = obj({
        "id": string("`default` or a UUID."), "name": string(), "createdAt": TIMESTAMP,
        "role": string("The caller's role there.", enum=ROLES),
    })
    token = obj({
        "id": UUID, "userId": UUID, "name": string(),
        "prefix": string("The first characters of the secret, to recognise it."),
        "createdAt": TIMESTAMP, "revokedAt": nullable(TIMESTAMP),
    })
    return {
        "User": user,
        "NewUser": {"allOf": [ref("User"), obj({
            "password": string("Only when the server generated it: shown this once."),
        }, required=[])]},
        "SessionUser": {"allOf": [ref("User"), obj({"via": string(enum=["session"])})]},
        "Me": obj({
            "id": UUID, "username": string(), "isAdmin": boolean(),
            "via": string("How the caller authenticated.", enum=["session", "token"]),
            "workspaces": array(ref("Workspace")),
        }),
        "Token": token,
        "NewToken": {"allOf": [ref("Token"), obj({
            "token": string("The secret (`rs_...`): shown this once, stored hashed."),
        })]},
        "Workspace": workspace,
        "Member": obj({"workspaceId": string(), "userId": UUID, "username": string(),
                       "role": string(enum=ROLES)}),
        "Chat": obj({"id": UUID, "ownerId": UUID, "title": string(),
                     "createdAt": TIMESTAMP}),
    }


def _request_schemas() -> dict[str, Schema]:
    """Every request body, from the model that validates it (service/views/requests.py)."""
    models = [model for model in vars(requests).values()
              if isinstance(model, type) and issubclass(model, RequestModel)
              and model is not RequestModel]
    _, top = models_json_schema([(model, "validation") for model in models],
                                ref_template="#/components/schemas/{model}")
    return dict(top["$defs"])


def _v1_stream_schemas() -> dict[str, Schema]:
    return {
        "V1Ping": obj({"content": string(enum=["ping"])}),
        "V1WorkflowRunFrame": obj({"content": obj({
            "workflowRunId": UUID, "status": string(enum=RUN_STATUS_WORDS)})}),
        "V1ActivityRunFrame": obj({"content": obj({
            "workflowRunId": UUID, "activityRunId": UUID, "stepId": string(),
            "stepName": nullable(string()), "status": string(enum=NODE_STATUS_WORDS),
            "attempt": integer(minimum=1)})}),
        "V1ThinkingFrame": obj({"content": string(), "stepId": string(),
                                "activityRunId": UUID}),
        "V1ResultFrame": obj({"success": boolean(const=True),
                              "workflowRun": ref("WorkflowRunDetail")}),
        "V1ErrorFrame": obj({"error": string(), "details": ANY}),
    }


def _chat_schemas() -> dict[str, Schema]:
    step = obj({
        "id": string("The node id."),
        "status": string(enum=["pending", "running", "completed", "failed", "skipped",
                               "cancelled"]),
        "startedAt": nullable(TIMESTAMP),
        "completedAt": nullable(TIMESTAMP),
    })
    run = obj({
        "id": UUID, "chatId": UUID, "workflowId": UUID,
        "status": string(enum=["pending", "running", "completed", "failed", "cancelled"]),
        "startedAt": nullable(TIMESTAMP),
        "completedAt": nullable(TIMESTAMP),
        "steps": array(ref("ChatStep")),
    })

    def frame(kind: str, **fields: Schema) -> Schema:
        return obj({"type": string(const=kind), **fields})

    frames = {"oneOf": [
        frame("run_started", runId=UUID, workflowId=UUID),
        frame("step_started", stepId=string(), toolId=nullable(string("The node type."))),
        frame("step_progress", stepId=string(), progress=nullable({"type": "number"}),
              message=string()),
        frame("step_completed", stepId=string(), result=ANY),
        frame("step_failed", stepId=string(), error=nullable(string())),
        frame("run_completed", runId=UUID, status=string(enum=["completed", "cancelled"])),
        frame("run_failed", runId=UUID, error=nullable(string())),
    ], "description": "A data-only frame of a chat run stream (seed 000)."}
    return {
        "ChatStep": step,
        "ChatRun": run,
        "ChatStreamFrame": frames,
    }


def _flowtrux_schemas() -> dict[str, Schema]:
    terminal = obj({
        "success": boolean(), "executionId": UUID, "error": nullable(string()),
        "cancelled": boolean(),
    })
    log = obj({
        "nodeId": string(), "nodeName": nullable(string()), "nodeType": nullable(string()),
        "status": string(enum=["pending", "running", "waiting", "success", "error",
                               "skipped", "cancelled"]),
        "input": ANY, "output": ANY, "durationMs": nullable(integer(minimum=0)),
        "error": nullable(string()), "attempt": integer(minimum=0),
    }, description="A node's execution log.")
    return {
        "FlowTruxTerminal": terminal,
        "FlowTruxExecutionLog": log,
        "FlowTruxResult": {"allOf": [ref("FlowTruxTerminal"), obj({
            "status": string("complete, error or cancelled once finished."),
            "output": ANY,
            "logs": array(ref("FlowTruxExecutionLog")),
        })]},
        "FlowTruxStart": obj({"workflowId": UUID, "workflowName": nullable(string()),
                              "timestamp": TIMESTAMP}),
        "FlowTruxNodeStart": obj({"nodeId": string(), "nodeName": nullable(string()),
                                  "nodeType": nullable(string())}),
    }


def _splox_schemas() -> dict[str, Schema]:
    request = obj({
        "id": UUID,
        "workflow_version_id": UUID,
        "start_node_id": nullable(string()),
        "status": string(enum=["pending", "in_progress", "waiting", "completed", "failed",
                               "stopped"]),
        "created_at": TIMESTAMP,
        "user_id": nullable(string()),
        "billing_user_id": nullable(string()),
        "parent_node_execution_id": nullable(UUID),
        "parent_workflow_request_id": nullable(UUID),
        "chat_id": nullable(UUID),
        "payload": JSON_OBJECT,
        "metadata": obj({"workflow_id": UUID, "workflow_name": nullable(string()),
                         "workflow_version": integer(minimum=1)}),
        "started_at": nullable(TIMESTAMP),
        "completed_at": nullable(TIMESTAMP),
    })
    node = obj({
        "id": UUID, "workflow_request_id": UUID, "node_id": string(),
        "workflow_version_id": UUID,
        "status": string(enum=["pending", "in_progress", "waiting", "completed", "failed",
                               "skipped", "stopped"]),
        "input_data": ANY, "output_data": ANY, "attempt_count": integer(minimum=0),
        "created_at": TIMESTAMP, "completed_at": nullable(TIMESTAMP),
        "failed_at": nullable(TIMESTAMP),
    })
    return {
        "SploxWorkflowRequest": request,
        "SploxNodeExecution": node,
        "SploxMessage": obj({
            "workflow_request": ref("SploxWorkflowRequest"),
            "node_execution": ref("SploxNodeExecution"),
        }, required=["workflow_request"], description=(
            "The objects as they were at that point of the log; run events carry only "
            "the workflow_request.")),
    }


def _error_responses() -> dict[str, Any]:
    def error_response(description: str, code: str) -> dict[str, Any]:
        return response(f"{description} (`error.code` `{code}`).", ref("Error"))

    return {
        "BadRequest": error_response("Malformed id, body, query parameter or cursor",
                                     "bad_request"),
        "Unauthorized": {
            **error_response("No credentials, or an invalid or revoked API token",
                             "unauthorized"),
            "headers": {"WWW-Authenticate": header("`Bearer error=\"invalid_token\"` when "
                                                   "a bad token was sent.")},
        },
        "Forbidden": error_response(
            "No permission, or a cookie-authenticated write without a JSON or form "
            "content type or with a foreign Origin (CSRF)", "forbidden"),
        "NotFound": error_response(
            "Missing, or an object the caller may not know exists", "not_found"),
        "Conflict": error_response("Conflict with the current state", "conflict"),
        "CursorBeyondLog": response(
            "The `Last-Event-ID` is beyond the end of the log (`error.code` "
            "`cursor_beyond_log`, `error.details` `{cursor, head}`): reconnect without it.",
            ref("Error")),
        "PayloadTooLarge": error_response("Request body over the size limit", "too_large"),
        "InvalidWorkflow": response(
            "Invalid workflow definition (`error.code` `invalid_workflow`; `error.details` "
            "`{nodeIds, errors: [{nodeId, message}]}`).", ref("Error")),
        "TooManyRequests": {
            **error_response("Too many failed logins from this client, or for this account "
                             "from this client, within the window (`error.details` "
                             "`{retryAfterSeconds}`)", "too_many_requests"),
            "headers": {"Retry-After": header("Seconds until a login may be tried again.",
                                              integer())},
        },
        "TooManyStreams": error_response(
            "The caller already holds as many open streams as one user may "
            "(`stream_max_per_user`; `error.details` `{openStreams, limit}`)",
            "too_many_requests"),
        "Unavailable": error_response("The event store is unavailable", "unavailable"),
        "Internal": response("Any other error, always a JSON error body (`internal` for "
                             "500).", ref("Error")),
    }


def _components() -> dict[str, Any]:
    schemas: dict[str, Schema] = {
        "Error": obj({
            "error": obj({
                "code": string("Machine-readable: bad_request, unauthorized, forbidden, "
                               "not_found, conflict, cursor_beyond_log, too_large, "
                               "invalid_workflow, unavailable, internal, ..."),
                "message": string("For people."),
                "details": {"description": "More about the error (optional)."},
                "fields": array(obj({"path": string("The field, dotted: `inputs.x`."),
                                     "message": string()}), description=(
                    "A body that does not fit its model: every bad field.")),
            }, required=["code", "message"]),
        }),
        "Pagination": obj({
            "page": integer(minimum=1),
            "limit": integer(minimum=1, maximum=MAX_PAGE_LIMIT),
            "total": integer(minimum=0),
            "totalPages": integer(minimum=0),
        }),
        "Health": obj({"status": string(enum=["ok"]),
                       "head": integer("The log's last position.", minimum=0),
                       "store": obj({}, required=[], additional=True, description=(
                           "Global admins only. Backend facts: for SQLite `walBytes`, "
                           "`walRestartBytes`, `lastPassive` and `lastRestart` (the last checkpoint of each kind: "
                           "mode, at, durationMs, frames, complete), `restarts`, "
                           "`restartsIncomplete`, and the live ring's `ringEvents`, "
                           "`ringBytes` and `ringBudgetBytes`."))}),
    }
    for part in (_identity_schemas, _workflow_schemas, _run_schemas, _v1_stream_schemas,
                 _chat_schemas, _flowtrux_schemas, _splox_schemas, _request_schemas):
        added = part()
        # Generated components (from models) must never silently replace another.
        clash = schemas.keys() & added.keys()
        assert not clash, f"OpenAPI components named twice: {sorted(clash)}"
        schemas.update(added)
    return {
        "schemas": schemas,
        "responses": _error_responses(),
        "parameters": {
            "LastEventIdHeader": {
                "name": "Last-Event-ID", "in": "header", "required": False,
                "description": "Resume after this log position (sent by EventSource on "
                               "reconnect); wins over `lastEventId`.",
                "schema": string(pattern="^[0-9]{1,18}$"),
            },
            "LastEventIdQuery": query_param(
                "lastEventId", "Resume after this log position (for clients that cannot "
                "set headers).", string(pattern="^[0-9]{1,18}$")),
        },
        "securitySchemes": {
            "cookieAuth": {
                "type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
                "description": "The encrypted session cookie set by `POST /api/v1/auth/"
                               "login`. Cookie-authenticated writes need a JSON or form "
                               "content type and, when sent, a same-origin Origin (CSRF).",
            },
            "bearerAuth": {
                "type": "http", "scheme": "bearer", "bearerFormat": "rs_...",
                "description": "An API token from `POST /api/v1/tokens`. An invalid or "
                               "revoked token is 401 on every route, public ones included.",
            },
        },
    }


# -- paths ---------------------------------------------------------------------------


def _identity_paths() -> dict[str, Any]:
    tag = ["auth"]
    ws_id = path_param("id", "`default` or a workspace UUID.", string())
    paged = query_parameters(PageQuery)
    return {
        "/api/v1/auth/login": {"post": operation(
            "login", "Sign in: sets the session cookie", tag, {
                "200": response("Signed in; `Set-Cookie` carries a fresh session.",
                                data_of(ref("SessionUser"))),
                "400": err("BadRequest"),
                "401": response("Wrong username or password (one message for both).",
                                ref("Error")),
                "403": err("Forbidden"),
                "413": err("PayloadTooLarge"),
                "429": err("TooManyRequests"),
                "503": err("Unavailable"),
            },
            body=json_body(ref("LoginRequest"), forms=True),
            security=PUBLIC, authed=False,
            description="A foreign Origin header is refused (login CSRF)."),
        },
        "/api/v1/auth/logout": {"post": operation(
            "logout", "Sign out: ends the session and clears the cookie", tag, {
                "200": response("Signed out (also when there was no session).",
                                data_of(obj({"loggedOut": boolean(const=True)}))),
                "401": err("Unauthorized"),
                "403": err("Forbidden"),
                "503": err("Unavailable"),
            }, security=OPTIONAL_AUTH, authed=False,
            description="No body is read; with a session cookie the CSRF rule still wants a "
                        "JSON or form Content-Type.")},
        "/api/v1/auth/me": {"get": operation(
            "getMe", "The caller and their workspaces", tag,
            {"200": response("The caller.", data_of(ref("Me")))})},
        "/api/v1/auth/password": {"post": operation(
            "changePassword", "Change the caller's password", tag, {
                "200": response(
                    "Changed. Every login session of the user ends, the caller's too (a "
                    "stolen cookie holds that very session); a caller signed in by cookie "
                    "gets a fresh one in `Set-Cookie`. API tokens stay valid until revoked.",
                    data_of(obj({"passwordChanged": boolean(const=True),
                                 "sessionsEnded": integer(minimum=0)}))),
                "400": err("BadRequest"),
                "403": response("`currentPassword` is wrong, or the CSRF rule refused a "
                                "cookie write.", ref("Error")),
                "429": err("TooManyRequests"),
            },
            body=json_body(ref("PasswordChange")),
            write=True,
            description="A wrong current password counts as a failed login for the "
                        "throttle, so a stolen session or token cannot guess it freely.")},
        "/api/v1/users": {
            "post": operation(
                "createUser", "Create a user (global admins)", ["users"], {
                    "201": response("Created.", data_of(ref("NewUser"))),
                    "400": err("BadRequest"),
                    "409": err("Conflict"),
                },
                body=json_body(ref("UserCreate")),
                write=True),
            "get": operation(
                "listUsers", "List users (global admins)", ["users"], {
                    "200": response("A page of users.", page_of(ref("User"))),
                    "400": err("BadRequest"),
                    "403": err("Forbidden"),
                }, parameters=paged),
        },
        "/api/v1/users/{id}": {"delete": operation(
            "deleteUser", "Delete a user (global admins)", ["users"], {
                "200": response("Deleted.", data_of(obj({"id": UUID,
                                                         "deleted": boolean(const=True)}))),
                "400": err("BadRequest"),
                "404": err("NotFound"),
                "409": response("Admins cannot delete their own account.", ref("Error")),
            }, parameters=[path_param("id", "User id.")], write=True)},
        "/api/v1/tokens": {
            "post": operation(
                "createToken", "Create an API token for the caller", ["tokens"], {
                    "201": response("Created; the secret is in `token`, shown once.",
                                    data_of(ref("NewToken"))),
                    "400": err("BadRequest"),
                },
                body=json_body(ref("TokenCreate"), description="A JSON object (may be empty)."),
                write=True),
            "get": operation(
                "listTokens", "The caller's API tokens", ["tokens"], {
                    "200": response("A page of tokens (never their secrets).",
                                    page_of(ref("Token"))),
                    "400": err("BadRequest"),
                }, parameters=paged),
        },
        "/api/v1/tokens/{id}": {"delete": operation(
            "revokeToken", "Revoke an API token (own, or any for global admins)", ["tokens"], {
                "200": response("The revoked token.", data_of(ref("Token"))),
                "400": err("BadRequest"),
                "404": err("NotFound"),
            }, parameters=[path_param("id", "Token id.")], write=True)},
        "/api/v1/workspaces": {
            "post": operation(
                "createWorkspace", "Create a workspace; the caller becomes its admin",
                ["workspaces"], {
                    "201": response("Created.", data_of(ref("Workspace"))),
                    "400": err("BadRequest"),
                    "409": response("A workspace with this name exists.", ref("Error")),
                },
                body=json_body(ref("WorkspaceCreate")),
                write=True),
            "get": operation(
                "listWorkspaces", "The caller's workspaces (all, for global admins)",
                ["workspaces"], {
                    "200": response("A page of workspaces with the caller's role.",
                                    page_of(ref("Workspace"))),
                    "400": err("BadRequest"),
                }, parameters=paged),
        },
        "/api/v1/workspaces/{id}/members": {"get": operation(
            "listMembers", "The workspace's members and their roles (any member)",
            ["workspaces"], {
                "200": response("A page of members, by username.", page_of(ref("Member"))),
                "400": err("BadRequest"),
                "404": response("Workspace not found (or not the caller's).", ref("Error")),
            }, parameters=[ws_id, *paged]), "post": operation(
            "setMember", "Add a member or change their role (workspace admins)",
            ["workspaces"], {
                "200": response("An existing member's role changed.", data_of(ref("Member"))),
                "201": response("Member added.", data_of(ref("Member"))),
                "400": err("BadRequest"),
                "404": response("Workspace not found (or not the caller's) or no such user.",
                                ref("Error")),
                "409": response("A workspace must keep at least one admin.", ref("Error")),
            },
            parameters=[ws_id],
            body=json_body(ref("MemberAdd")),
            write=True)},
        "/api/v1/workspaces/{id}/members/{userId}": {"delete": operation(
            "removeMember", "Remove a member (workspace admins)", ["workspaces"], {
                "200": response("Removed; their open streams of this workspace's runs end "
                                "now, and reconnecting to them is refused.",
                                data_of(obj({"workspaceId": string(), "userId": UUID,
                                             "removed": boolean(const=True)}))),
                "400": err("BadRequest"),
                "404": response("Workspace not found (or not the caller's), or the user is "
                                "not a member.", ref("Error")),
                "409": response("A workspace must keep at least one admin.", ref("Error")),
            },
            parameters=[ws_id, path_param("userId", "User id.")],
            write=True)},
    }


def _workflow_paths() -> dict[str, Any]:
    tag = ["workflows"]
    workflow_id = path_param("workflowId", "Workflow id.")
    return {
        "/api/v1/workflows": {
            "post": operation(
                "createWorkflow", "Create a workflow (editor role in its workspace)", tag, {
                    "201": response("Created: version 1.", data_of(ref("Workflow"))),
                    "400": err("BadRequest"),
                    "404": response("Workspace not found (or not the caller's).",
                                    ref("Error")),
                    "422": err("InvalidWorkflow"),
                }, body=json_body(ref("WorkflowInput")), write=True),
            "get": operation(
                "listWorkflows", "List a workspace's workflows", tag, {
                    "200": response("A page of workflows (latest versions).",
                                    page_of(ref("Workflow"))),
                    "400": err("BadRequest"),
                    "404": response("Workspace not found (or not the caller's).",
                                    ref("Error")),
                }, parameters=query_parameters(WorkflowListQuery)),
        },
        "/api/v1/workflows/{workflowId}": {
            "get": operation(
                "getWorkflow", "A workflow (latest version) and its version numbers", tag, {
                    "200": response("The workflow.", data_of(ref("WorkflowDetail"))),
                    "400": err("BadRequest"),
                    "404": err("NotFound"),
                }, parameters=[workflow_id]),
            "put": operation(
                "updateWorkflow", "Save a new version (editor role)", tag, {
                    "200": response("The new version.", data_of(ref("Workflow"))),
                    "400": err("BadRequest"),
                    "404": err("NotFound"),
                    "422": err("InvalidWorkflow"),
                }, parameters=[workflow_id], body=json_body(ref("WorkflowInput")),
                write=True),
        },
        "/api/v1/workflows/{workflowId}/versions/{version}": {"get": operation(
            "getWorkflowVersion", "One stored version of a workflow", tag, {
                "200": response("That version.", data_of(ref("Workflow"))),
                "400": err("BadRequest"),
                "404": err("NotFound"),
            }, parameters=[workflow_id, path_param(
                "version", "Version number, from 1.", string(pattern="^[0-9]{1,9}$"))])},
    }


def _run_paths() -> dict[str, Any]:
    tag = ["workflow-runs"]
    base = "/api/v1/workflow-runs"
    run_id = path_param("runId", "Workflow run id.")
    execute_body = json_body(ref("ExecuteRequest"), forms=True,
                             json_fields=("inputs", "envs"),
                             description="JSON, or form fields with `inputs` and `envs` as "
                                         "JSON text.")
    execute_errors = {
        "400": err("BadRequest"),
        "404": response("Workflow (or chat) not found, or not the caller's.", ref("Error")),
    }
    v1_events = {
        "ping": ref("V1Ping"),
        "workflow-run": ref("V1WorkflowRunFrame"),
        "activity-run": ref("V1ActivityRunFrame"),
        "thinking": ref("V1ThinkingFrame"),
        "result": ref("V1ResultFrame"),
        "error": ref("V1ErrorFrame"),
    }
    v1_stream_text = (
        "`event:` + `data:` frames: `workflow-run` and `activity-run` on every status "
        "change, `thinking`, then `result` (completed) or `error` (failed, cancelled) "
        "after the final `workflow-run`; `ping` every 9 s while idle. The stream ends "
        "after the run's terminal event. A `retry:` field is sent first."
    )
    events_params = query_parameters(EventPageQuery)
    events_page = {
        "description": "Events in log order; page on with `after` = `X-Next-After`.",
        "headers": {"X-Next-After": header("The `after` for the next page (JSON only).",
                                           integer())},
        "content": {
            "application/json": {"schema": data_of(array(ref("Event")))},
            "application/x-ndjson": {"schema": string("One Event (JSON) per line.")},
        },
    }
    return {
        f"{base}/execute": {"post": operation(
            "executeWorkflow", "Run a workflow and wait for it to end", tag, {
                "200": response("The finished run.", data_of(ref("WorkflowRunDetail"))),
                **execute_errors,
            }, body=execute_body, write=True,
            description="Needs the runner role. The run goes on if the client leaves.")},
        f"{base}/execute/stream": {"post": operation(
            "executeWorkflowStream", "Run a workflow and stream its events", tag, {
                "200": sse_response(
                    v1_stream_text + " Starts at the beginning of the run.",
                    v1_events, headers={
                        "X-Workflow-Run-Id": header("The new run's id.", UUID),
                        "X-Workflow-Run-Stream": header(
                            "Where to resume this stream: `/api/v1/workflow-runs/{runId}/"
                            "stream` with `Last-Event-ID`."),
                    }),
                **execute_errors,
                **STREAM_QUOTA,
            },
            parameters=[query_param(
                "onDisconnect", "What a dropped connection does to the run: `continue` "
                "(default) or `cancel`.", string(enum=["continue", "cancel"],
                                                 default="continue"))],
            body=execute_body, write=True, description="Needs the runner role.")},
        f"{base}/cancel": {"post": operation(
            "cancelRuns", "Cancel runs by id, or every unfinished run of a workflow", tag, {
                "200": response("An outcome per run.", data_of(ref("CancelResult"))),
                "400": err("BadRequest"),
                "404": response("Workflow not found (with `workflowId`).", ref("Error")),
            }, body=json_body(ref("CancelRequest")), write=True,
            description="Cancelling by `workflowId` needs the runner role in its "
                        "workspace; by `runIds`, each run's outcome says what happened.")},
        base: {"get": operation(
            "listRuns", "List the runs the caller can see", tag, {
                "200": response("A page of runs, newest first.", page_of(ref("WorkflowRun"))),
                "400": err("BadRequest"),
            }, parameters=query_parameters(RunListQuery))},
        f"{base}/dashboard/{{workflowId}}": {"get": operation(
            "runDashboard", "Run counts by status for a workflow", tag, {
                "200": response("Counts.", data_of(ref("DashboardCounts"))),
                "400": err("BadRequest"),
                "404": err("NotFound"),
            }, parameters=[path_param("workflowId", "Workflow id.")])},
        f"{base}/{{runId}}": {"get": operation(
            "getRun", "A run with its activity runs", tag, {
                "200": response("The run.", data_of(ref("WorkflowRunDetail"))),
                "400": err("BadRequest"),
                "404": err("NotFound"),
            }, parameters=[run_id])},
        f"{base}/{{runId}}/stream": {"get": operation(
            "streamRun", "A run's events (resumable)", tag, {
                "200": sse_response(v1_stream_text + " " + STREAM_RULES, v1_events),
                **stream_errors(),
            }, parameters=[run_id, *RESUME_PARAMETERS])},
        f"{base}/{{runId}}/nodes/{{nodeId}}/resume": {"post": operation(
            "resumeNode", "Answer an approval node (runner role)", tag, {
                "200": response("The node's activity run after the answer.",
                                data_of(ref("ActivityRun"))),
                "400": err("BadRequest"),
                "404": response("No such run, or no such node in it.", ref("Error")),
            },
            parameters=[run_id, path_param("nodeId", "The node id.", string())],
            body=json_body(ref("ResumeRequest")), write=True)},
        f"{base}/{{runId}}/events": {"get": operation(
            "runEvents", "The raw log of one run, with positions and hashes", ["events"], {
                "200": events_page,
                "400": err("BadRequest"),
                "404": err("NotFound"),
            }, parameters=[run_id, *events_params])},
        "/api/v1/events": {"get": operation(
            "allEvents", "The whole log (global admins)", ["events"], {
                "200": events_page,
                "400": err("BadRequest"),
                "403": err("Forbidden"),
            }, parameters=events_params)},
        "/api/v1/events/stream": {"get": operation(
            "streamAllEvents", "The whole log, live (global admins)", ["events"], {
                "200": sse_response(
                    "Every event as `event: <type>` + `data: <Event>` with `id:` = its "
                    "position, history then live; `event: ping` `data: {}` every 9 s "
                    "while idle. Never ends by itself. Resume with `Last-Event-ID`.",
                    {"<event type>": ref("Event"), "ping": obj({}, required=[])}),
                "400": err("BadRequest"),
                "403": err("Forbidden"),
                "409": err("CursorBeyondLog"),
                **STREAM_QUOTA,
            }, parameters=RESUME_PARAMETERS)},
        f"{base}/stream": {"get": operation(
            "streamRunFeed", "Live feed of the status changes of runs the caller may see",
            tag, {
                "200": sse_response(
                    "First `event: ready` (`id:` = the starting position), then a "
                    "`workflow-run` frame per run status change in a workspace the caller "
                    "may view (memberships are re-read every 30 s); `ping` every 9 s while "
                    "idle. Without a cursor the feed starts at the current end of the log; "
                    "with `Last-Event-ID` / `lastEventId` it resumes after that position. "
                    "Never ends by itself.", {
                        "ready": ref("RunFeedReady"),
                        "workflow-run": ref("RunFeedFrame"),
                        "ping": ref("V1Ping"),
                    }),
                "400": err("BadRequest"),
                "404": response("No such workflow (or not visible) for `workflowId`.",
                                ref("Error")),
                "409": err("CursorBeyondLog"),
                **STREAM_QUOTA,
            }, parameters=[
                query_param("workflowId", "Only runs of this workflow.", UUID),
                *RESUME_PARAMETERS,
            ])},
        "/api/v1/audit/verify": {"get": operation(
            "verifyLog", "Verify the event log's hash chain (global admins)", ["events"], {
                "200": response("The verification result.", data_of(ref("LogVerification"))),
                "403": err("Forbidden"),
            }, description="Walks the whole log as `runstream verify` does.")},
    }


def _chat_paths() -> dict[str, Any]:
    tag = ["chat"]
    chat_id = path_param("chatId", "Chat id.")
    chat_errors = {
        "400": err("BadRequest"),
        "403": response("The chat belongs to another user (and for a write: the CSRF "
                        "rule, or too low a role in the workflow's workspace).",
                        ref("Error")),
        "404": err("NotFound"),
    }
    return {
        "/api/chats": {"post": operation(
            "createChat", "Create a chat owned by the caller", tag, {
                "201": response("Created.", data_of(ref("Chat"))),
                "400": err("BadRequest"),
            },
            body=json_body(ref("ChatCreate"), required=False, description="Optional."),
            write=True)},
        "/api/chats/{chatId}/workflow-runs": {
            "post": operation(
                "startChatRun", "Start a run in the caller's chat (runner role)", tag, {
                    "201": response("The started run.", data_of(ref("ChatRun"))),
                    **chat_errors,
                }, parameters=[chat_id],
                body=json_body(ref("ChatRunStart"), forms=True,
                               json_fields=("inputs", "envs")),
                write=True),
            "get": operation(
                "listChatRuns", "The runs of the caller's chat", tag, {
                    "200": response("Every run of the chat (at most 1000), not paged.",
                                    data_of(obj({"workflowRuns": array(ref("ChatRun"))}))),
                    **chat_errors,
                }, parameters=[chat_id]),
        },
        "/api/chats/{chatId}/workflow-runs/{runId}/stream": {"get": operation(
            "streamChatRun", "A chat run's events (resumable)", tag, {
                "200": sse_response(
                    "Data-only frames `data: {\"type\": ...}` (seed 000); no keepalive. "
                    "Ends after run_completed or run_failed. " + STREAM_RULES,
                    {"message": ref("ChatStreamFrame")}),
                **chat_errors, **stream_errors(),
                "404": response("Chat not found, or the run is not in this chat.",
                                ref("Error")),
            }, parameters=[chat_id, path_param("runId", "Workflow run id."),
                           *RESUME_PARAMETERS])},
    }


def _flowtrux_paths() -> dict[str, Any]:
    tag = ["flowtrux"]
    workflow_id = path_param("workflowId", "Workflow id.")
    payload = json_body(JSON_OBJECT, required=False,
                        description="The trigger payload (optional), merged over the "
                                    "trigger's staticData.")
    errors = {
        "400": err("BadRequest"),
        "403": err("Forbidden"),
        "404": err("NotFound"),
    }
    events = {
        "start": ref("FlowTruxStart"),
        "node_start": ref("FlowTruxNodeStart"),
        "node_complete": ref("FlowTruxExecutionLog"),
        "complete": ref("FlowTruxTerminal"),
        "error": ref("FlowTruxTerminal"),
        "cancelled": ref("FlowTruxTerminal"),
    }
    frames = ("`event:` + `data:` frames: start, node_start and node_complete per node "
              "attempt, then exactly one of complete, error or cancelled, and the stream "
              "closes. No `retry:` and no keepalive.")
    return {
        "/api/workflows/{workflowId}/execute": {"post": operation(
            "flowtruxExecute", "Execute and answer with the result (runner role)", tag, {
                "200": response("The result (not wrapped in `data`).", ref("FlowTruxResult")),
                **errors,
            }, parameters=[workflow_id], body=payload, write=True)},
        "/api/workflows/{workflowId}/execute/stream": {"post": operation(
            "flowtruxExecuteStream", "Execute and stream (runner role)", tag, {
                "200": sse_response(
                    frames + " Closing the connection cancels the run unless the trigger "
                    "has `continueOnDisconnect`.", events, headers={
                        "X-Execution-Id": header("The execution (run) id.", UUID),
                        "X-Execution-Stream": header(
                            "Where to resume: `/api/workflows/{workflowId}/executions/"
                            "{executionId}/stream` with `Last-Event-ID`."),
                    }),
                **errors,
                **STREAM_QUOTA,
            }, parameters=[workflow_id], body=payload, write=True)},
        "/api/workflows/{workflowId}/executions/{executionId}/stream": {"get": operation(
            "flowtruxExecutionStream", "Resume an execution's stream", tag, {
                "200": sse_response(frames + " Leaving never cancels the run. "
                                    + STREAM_RULES, events),
                **stream_errors(),
            }, parameters=[workflow_id, path_param("executionId", "Execution (run) id."),
                           *RESUME_PARAMETERS])},
    }


def _splox_paths() -> dict[str, Any]:
    tag = ["splox"]
    return {
        "/api/v1/workflow-requests": {"post": operation(
            "sploxCreateRequest", "Start a workflow request (a run; runner role)", tag, {
                "201": response("The workflow_request (not wrapped in `data`).",
                                ref("SploxWorkflowRequest")),
                "400": err("BadRequest"),
                "403": err("Forbidden"),
                "404": err("NotFound"),
            },
            body=json_body(ref("SploxCreateRequest"), forms=True, json_fields=("payload",)),
            write=True)},
        "/api/v1/workflow-requests/{id}/listen": {"get": operation(
            "sploxListen", "Listen to a workflow request", tag, {
                "200": sse_response(
                    "First the request's existing node executions, then live updates, each "
                    "`data: {\"workflow_request\": ..., \"node_execution\": ...}`; "
                    "`data: keepalive` every 3 s while idle; ends with the run or after 30 "
                    "minutes. " + STREAM_RULES,
                    {"message": ref("SploxMessage"), "keepalive": string(const="keepalive")}),
                **stream_errors(),
            }, parameters=[path_param("id", "Workflow request (run) id."),
                           *RESUME_PARAMETERS])},
    }


def _service_paths() -> dict[str, Any]:
    return {
        "/healthz": {"get": operation(
            "healthz", "Liveness and readiness", ["service"], {
                "200": {"description": "Up; `head` is the log's last position.",
                        "content": json_content(ref("Health"))},
                "401": err("Unauthorized"),
                "503": err("Unavailable"),
            }, security=PUBLIC, authed=False)},
        SCHEMA_ID: {"get": operation(
            "workflowSchema", "The JSON Schema (2020-12) of workflow definitions", ["workflows"], {
                "200": {"description": (
                    "Every installed node type, each with its params. Files name it with "
                    "`$schema` so that editors validate and complete them."),
                    "content": {"application/schema+json": {"schema": JSON_OBJECT}}},
                "401": err("Unauthorized"),
            }, security=PUBLIC, authed=False)},
        OPENAPI_PATH: {"get": operation(
            "openapi", "This document", ["service"], {
                "200": response("The OpenAPI 3.1 document.", JSON_OBJECT),
                "401": err("Unauthorized"),
            }, security=PUBLIC, authed=False)},
    }


def _static_headers() -> tuple[dict[str, Any], dict[str, Any]]:
    """The headers of a page served like the console (and of its assets), and its 304."""
    cached = {
        "Cache-Control": header("`no-cache` for the page and for an asset asked for under "
                                "another version; a year (`immutable`) otherwise."),
        "ETag": header("A digest of the file."),
        "Content-Security-Policy": header("Same origin only, no inline scripts."),
    }
    not_modified = {"description": "Not modified (`If-None-Match` matched the ETag).",
                    "headers": cached}
    return cached, not_modified


def _api_docs_paths() -> dict[str, Any]:
    tag = ["service"]
    cached, not_modified = _static_headers()
    return {
        "/api/docs": {"get": operation(
            "apiDocs", "This document as an interactive reference (Swagger UI)", tag, {
                "200": {"description": "The reference's page; it reads "
                                       f"`{OPENAPI_PATH}`.", "headers": cached,
                        "content": {"text/html": {"schema": string()}}},
                "304": not_modified,
                "401": err("Unauthorized"),
            }, security=PUBLIC, authed=False,
            description="Public. Swagger UI is shipped in the package; nothing is fetched "
                        "from elsewhere.")},
        "/api/docs/{version}/{name}": {"get": operation(
            "apiDocsAsset", "An asset of the API reference (JavaScript, CSS)", tag, {
                "200": {"description": "The file.", "headers": cached, "content": {
                    media: {"schema": string()} for media in ("text/javascript", "text/css")}},
                "304": not_modified,
                "401": err("Unauthorized"),
                "404": err("NotFound"),
            }, parameters=[
                path_param("version", "The reference's version (a digest of its files).",
                           string()),
                path_param("name", "The file name.", string()),
            ], security=PUBLIC, authed=False)},
    }


def _console_paths() -> dict[str, Any]:
    tag = ["console"]
    cached, not_modified = _static_headers()
    return {
        "/": {"get": operation(
            "console", "The web console (index.html)", tag, {
                "200": {"description": "The console's page.", "headers": cached,
                        "content": {"text/html": {"schema": string()}}},
                "304": not_modified,
                "401": err("Unauthorized"),
            }, security=PUBLIC, authed=False,
            description="Public; the console signs in through the API.")},
        "/console/{version}/{name}": {"get": operation(
            "consoleAsset", "A console asset (JavaScript, CSS, SVG)", tag, {
                "200": {"description": "The file.", "headers": cached, "content": {
                    media: {"schema": string()}
                    for media in ("text/javascript", "text/css", "image/svg+xml")}},
                "304": not_modified,
                "401": err("Unauthorized"),
                "404": err("NotFound"),
            }, parameters=[
                path_param("version", "The console version (a digest of its files).",
                           string()),
                path_param("name", "The file name.", string()),
            ], security=PUBLIC, authed=False)},
    }


@cache
def _document_bytes() -> bytes:
    return orjson.dumps(build_document())


def build_document() -> dict[str, Any]:
    """The whole OpenAPI 3.1.0 document (a fresh dict each call)."""
    paths: dict[str, Any] = {}
    for part in (_service_paths, _console_paths, _api_docs_paths, _identity_paths,
                 _workflow_paths, _run_paths, _chat_paths, _flowtrux_paths, _splox_paths):
        paths.update(part())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "runstream",
            "version": "1.0.0",
            "summary": "Self-hosted workflow runs with a tamper-evident event log and "
                       "resumable SSE streams.",
            "description": (
                "Canonical API under `/api/v1`; the chat, FlowTrux and Splox dialects are "
                "tagged as such. Success bodies are `{\"data\": ...}` (lists add "
                "`pagination`) except where a dialect says otherwise; errors are always "
                "`{\"error\": {\"code\", \"message\", \"details\"?}}`. Unless an operation "
                "says otherwise it needs a session cookie or a Bearer API token."),
        },
        "servers": [{"url": "/"}],
        "tags": [
            {"name": "service", "description": "Health, this document and its interactive "
                                                "reference at /api/docs."},
            {"name": "console", "description": "The web console's page and assets."},
            {"name": "auth", "description": "Session login, logout and the caller."},
            {"name": "users", "description": "Users (global admins)."},
            {"name": "tokens", "description": "API tokens."},
            {"name": "workspaces", "description": "Workspaces and member roles."},
            {"name": "workflows", "description": "Versioned workflow definitions."},
            {"name": "workflow-runs", "description": "Runs: execute, stream, cancel, read."},
            {"name": "events", "description": "The raw event log and its verification."},
            {"name": "chat", "description": "Chat dialect (seeds 000, 001)."},
            {"name": "flowtrux", "description": "FlowTrux dialect (seed 002)."},
            {"name": "splox", "description": "Splox dialect (seed 003)."},
        ],
        "security": [{"cookieAuth": []}, {"bearerAuth": []}],
        "paths": paths,
        "components": _components(),
    }


async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(body=_document_bytes(), content_type="application/json")


def setup_routes(app: web.Application) -> None:
    app.router.add_get(OPENAPI_PATH, openapi_json)
