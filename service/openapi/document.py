"""The whole document: info, tags, every route of the table, and the components."""

from __future__ import annotations

import copy
from typing import Any

import orjson

from service.openapi.components import (
    ALWAYS,
    ModelUse,
    error_responses,
    merge,
    model_components,
    security_schemes,
    shared_parameters,
)
from service.openapi.operations import body_models, operation
from service.routing import PATH_PARAMETER, RouteTable

OPENAPI_PATH = "/api/v1/openapi.json"
DOCUMENT_CACHE = "openapi"

INFO = {
    "title": "runstream",
    "version": "1.0.0",
    "summary": "Self-hosted workflow runs with a tamper-evident event log and resumable SSE "
               "streams.",
    "description": (
        "Canonical API under `/api/v1`; the chat, FlowTrux and Splox dialects are tagged as "
        "such. Success bodies are `{\"data\": ...}` (lists add `pagination`) except where a "
        "dialect says otherwise; errors are always `{\"error\": {\"code\", \"message\", "
        "\"details\"?, \"fields\"?}}`. Unless an operation says otherwise it needs a session "
        "cookie or a Bearer API token. Generated from the service's route table and models."),
}
TAGS = [
    {"name": "service", "description": "Health, this document and its interactive reference "
                                       "at /api/docs."},
    {"name": "console", "description": "The web console's page and assets."},
    {"name": "auth", "description": "Session login, logout and the caller."},
    {"name": "users", "description": "Users (global admins)."},
    {"name": "tokens", "description": "API tokens."},
    {"name": "workspaces", "description": "Workspaces and member roles."},
    {"name": "secrets", "description": "Workspace secrets for `{{secrets.NAME}}` (never "
                                       "answered)."},
    {"name": "retention", "description": "Workspaces' retention policies, and erasure of "
                                         "one run (docs/retention.md)."},
    {"name": "workflows", "description": "Versioned workflow definitions."},
    {"name": "schedules", "description": "Cron schedules that start runs of a workflow."},
    {"name": "webhooks", "description": "URLs (/hooks/{id}) that start runs of a workflow, "
                                        "their signatures and their deliveries."},
    {"name": "workflow-runs", "description": "Runs: execute, stream, cancel, read."},
    {"name": "events", "description": "The raw event log and its verification."},
    {"name": "audit", "description": "Signed checkpoints of the log's head."},
    {"name": "chat", "description": "Chat dialect (seeds 000, 001)."},
    {"name": "flowtrux", "description": "FlowTrux dialect (seed 002)."},
    {"name": "splox", "description": "Splox dialect (seed 003)."},
]
TAG_NAMES = frozenset(tag["name"] for tag in TAGS)


def _openapi_path(path: str) -> str:
    """aiohttp's `{name:regex}` is OpenAPI's `{name}`."""
    return PATH_PARAMETER.sub(r"{\1}", path)


def _generate(table: RouteTable) -> dict[str, Any]:
    models: list[ModelUse] = list(ALWAYS)
    schemas: dict[str, Any] = {}
    for route in table:
        models += body_models(route)
        if route.tag not in TAG_NAMES:
            raise ValueError(f"{route.operation_id}: unknown tag {route.tag!r}")
    generated, refs = model_components(models)
    merge(schemas, generated, "the route table's models")
    for route in table:
        hook = getattr(route.body, "openapi_components", None)
        if hook is not None:
            merge(schemas, hook("#/components/schemas/{model}"), f"{route.body}")
    paths: dict[str, Any] = {}
    for route in table:
        item = paths.setdefault(_openapi_path(route.path), {})
        item[route.method.lower()] = operation(route, refs)
    return {
        "openapi": "3.1.0",
        "info": INFO,
        "servers": [{"url": "/"}],
        "tags": TAGS,
        "security": [{"cookieAuth": []}, {"bearerAuth": []}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "responses": error_responses(),
            "parameters": shared_parameters(),
            "securitySchemes": security_schemes(),
        },
    }


def build_document(table: RouteTable) -> dict[str, Any]:
    """The OpenAPI 3.1.0 document of every route of `table` (a fresh dict each call)."""
    if DOCUMENT_CACHE not in table.derived:
        table.derived[DOCUMENT_CACHE] = _generate(table)
    return copy.deepcopy(table.derived[DOCUMENT_CACHE])


def document_bytes(table: RouteTable) -> bytes:
    """The document as served (built once per table)."""
    key = DOCUMENT_CACHE + ".json"
    if key not in table.derived:
        table.derived[key] = orjson.dumps(build_document(table))
    cached: bytes = table.derived[key]
    return cached
