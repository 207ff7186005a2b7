"""Named schemas from models, and the shared parts every operation refers to."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from service.auth.setup import SESSION_COOKIE
from service.views.models.common import Error, Pagination

Schema = dict[str, Any]
# A model and the side it is seen from: "validation" (requests) or "serialization" (answers).
ModelUse = tuple[type[BaseModel], Literal["validation", "serialization"]]
REF_TEMPLATE = "#/components/schemas/{model}"
# Keywords whose values are data, not schemas: never walked when dropping titles.
DATA_KEYWORDS = frozenset({"enum", "const", "default", "examples", "example"})
CURSOR_PATTERN = "^[0-9]{1,18}$"


class ComponentClash(ValueError):
    """Two schemas would get one component name: one of them would silently win."""


def ref(name: str) -> Schema:
    return {"$ref": REF_TEMPLATE.format(model=name)}


def drop_titles(schema: Any) -> Any:
    """The schema without the `title` pydantic derives from each name (noise for readers)."""
    if isinstance(schema, list):
        return [drop_titles(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: Schema = {}
    for key, value in schema.items():
        if key == "title":
            continue
        if key in ("properties", "$defs", "patternProperties"):
            out[key] = {name: drop_titles(sub) for name, sub in value.items()}
        elif key in DATA_KEYWORDS:
            out[key] = value
        else:
            out[key] = drop_titles(value)
    return out


def merge(into: dict[str, Schema], added: dict[str, Schema], source: str) -> None:
    """Add components, raising on a name already taken by another schema."""
    for name, schema in added.items():
        if name in into and into[name] != schema:
            raise ComponentClash(f"component {name!r} from {source} differs from one "
                                 "already in the document")
        into[name] = schema


def model_components(
    models: Iterable[ModelUse],
) -> tuple[dict[str, Schema], dict[ModelUse, Schema]]:
    """Every model's schema and those they use, as components; and the reference to each
    (model, mode). Raises ComponentClash when two models share a name."""
    pairs = list(dict.fromkeys(models))
    if not pairs:
        return {}, {}
    refs, top = models_json_schema(pairs, ref_template=REF_TEMPLATE)
    defs: dict[str, Schema] = top.get("$defs", {})
    for name, schema in defs.items():
        # On a clash pydantic names both by their module path instead of their class name.
        plain = name.removesuffix("-Input").removesuffix("-Output")
        if schema.get("title") != plain:
            raise ComponentClash(f"two models are named {schema.get('title')!r} "
                                 f"(component {name!r}): rename one")
    return drop_titles(defs), {pair: dict(refs[pair]) for pair in pairs}


def error_responses() -> dict[str, Any]:
    def error_response(description: str, code: str) -> dict[str, Any]:
        return {"description": f"{description} (`error.code` `{code}`).",
                "content": {"application/json": {"schema": ref("Error")}}}

    def described(description: str) -> dict[str, Any]:
        return {"description": description,
                "content": {"application/json": {"schema": ref("Error")}}}

    def header(description: str, schema: Schema | None = None) -> dict[str, Any]:
        return {"description": description, "schema": schema or {"type": "string"}}

    return {
        "BadRequest": error_response("Malformed id, body, query parameter or cursor; a body "
                                     "that does not fit its model lists every bad field in "
                                     "`error.fields`", "bad_request"),
        "Unauthorized": {
            **error_response("No credentials, or an invalid or revoked API token",
                             "unauthorized"),
            "headers": {"WWW-Authenticate": header(
                "`Bearer error=\"invalid_token\"` when a bad token was sent.")},
        },
        "Forbidden": error_response(
            "No permission, or a cookie-authenticated write without a JSON or form content "
            "type or with a foreign Origin (CSRF)", "forbidden"),
        "NotFound": error_response("Missing, or an object the caller may not know exists",
                                   "not_found"),
        "Conflict": error_response("Conflict with the current state", "conflict"),
        "CursorBeyondLog": described(
            "The `Last-Event-ID` names no event of this log: it is beyond the end, or from "
            "a history a restore replaced (`error.code` `cursor_beyond_log`, "
            "`error.details` `{cursor, head}`): reconnect without it."),
        "IdempotencyKeyReused": described(
            "The `Idempotency-Key` was used by this caller for a different request within "
            "24 h (`error.code` `idempotency_key_reused`); nothing was started."),
        "Pruned": described(
            "The run's data was removed by retention or erased (`error.code` `pruned`; "
            "`error.details` `{runId, prunedAt, kind: retention|erasure, policy, by, reason, "
            "archive, position}`: the archive file holding its events, or null for an "
            "erasure). Only a caller who could see the run is told; others get 404."),
        "PayloadTooLarge": error_response("Request body over the size limit", "too_large"),
        "InvalidWorkflow": described(
            "Invalid workflow definition (`error.code` `invalid_workflow`; `error.details` "
            "`{nodeIds, errors: [{nodeId, message}]}`)."),
        "TooManyRequests": {
            **error_response("Too many failed logins from this client, or for this account "
                             "from this client, within the window (`error.details` "
                             "`{retryAfterSeconds}`)", "too_many_requests"),
            "headers": {"Retry-After": header("Seconds until a login may be tried again.",
                                              {"type": "integer"})},
        },
        "TooManyStreams": error_response(
            "The caller already holds as many open streams as one user may "
            "(`stream_max_per_user`; `error.details` `{openStreams, limit}`)",
            "too_many_requests"),
        "Unavailable": error_response("The event store is unavailable", "unavailable"),
        "Internal": described("Any other error, always a JSON error body (`internal` for "
                              "500)."),
    }


def shared_parameters() -> dict[str, Any]:
    return {
        "LastEventIdHeader": {
            "name": "Last-Event-ID", "in": "header", "required": False,
            "description": "Resume after this log position (sent by EventSource on "
                           "reconnect); wins over `lastEventId`.",
            "schema": {"type": "string", "pattern": CURSOR_PATTERN},
        },
        "IdempotencyKey": {
            "name": "Idempotency-Key", "in": "header", "required": False,
            "description": "Start at most one run per key: a request repeating a key the "
                           "caller used within 24 h gets the run the first one started "
                           "(a stream attaches to it from its start); the same key with a "
                           "different request is 422. 1 to 255 printable ASCII characters.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
        },
        "LastEventIdQuery": {
            "name": "lastEventId", "in": "query", "required": False,
            "description": "Resume after this log position (for clients that cannot set "
                           "headers).",
            "schema": {"type": "string", "pattern": CURSOR_PATTERN},
        },
    }


def security_schemes() -> dict[str, Any]:
    return {
        "cookieAuth": {
            "type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
            "description": "The encrypted session cookie set by `POST /api/v1/auth/login`. "
                           "Cookie-authenticated writes need a JSON or form content type "
                           "and, when sent, a same-origin Origin (CSRF).",
        },
        "bearerAuth": {
            "type": "http", "scheme": "bearer", "bearerFormat": "rs_...",
            "description": "An API token from `POST /api/v1/tokens`. An invalid or revoked "
                           "token is 401 on every route, public ones included.",
        },
    }


# Always in the document: what every error and every list answer refers to.
ALWAYS: tuple[ModelUse, ...] = ((Error, "serialization"), (Pagination, "serialization"))
