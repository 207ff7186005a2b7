"""One route of the table as an OpenAPI operation."""

from __future__ import annotations

from typing import Any

from service.openapi.components import ModelUse, ref
from service.openapi.parameters import route_parameters
from service.routing import Access, Content, NoBody, Reply, Route, Shape

Schema = dict[str, Any]
# Resolves a (model, mode) to the schema that refers to its component.
Refs = dict[ModelUse, Schema]

FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
# Anonymous callers are served too; a session or token is used when one is sent.
SECURITY: dict[Access, list[dict[str, list[str]]]] = {
    Access.PUBLIC: [],
    Access.OPTIONAL: [{}, {"cookieAuth": []}, {"bearerAuth": []}],
}


def body_models(route: Route) -> list[ModelUse]:
    """The models a route's request and answers need as components, with their mode."""
    models: list[ModelUse] = []
    if route.reads_body and route.body is not None and not hasattr(
            route.body, "openapi_components"):
        models.append((route.body, "validation"))
    for reply in route.replies:
        for content in reply.content.values():
            if content.model is not None:
                models.append((content.model, "serialization"))
            models += [(model, "serialization") for model in content.events.values()]
    return models


def _content_schema(content: Content, refs: Refs) -> Schema:
    model = content.model
    item = refs[(model, "serialization")] if model is not None else {}
    match content.shape:
        case Shape.BARE:
            return item
        case Shape.DATA:
            return _object({"data": item})
        case Shape.DATA_LIST:
            return _object({"data": {"type": "array", "items": item}})
        case Shape.PAGE:
            return _object({"data": {"type": "array", "items": item},
                            "pagination": ref("Pagination")})
        case Shape.LINES:
            assert model is not None
            return {"type": "string", "description": f"One {model.__name__} (JSON) per line.",
                    "x-line-schema": item}
        case Shape.TEXT:
            return dict(content.schema or {"type": "string"})
        case Shape.EVENTS:
            return {"type": "string", "description": "Server-sent events (WHATWG HTML), UTF-8.",
                    "x-sse-events": {name: refs[(event_model, "serialization")]
                                     for name, event_model in content.events.items()}}
    raise AssertionError(content.shape)


def _object(properties: dict[str, Schema]) -> Schema:
    return {"type": "object", "properties": properties, "required": list(properties),
            "additionalProperties": False}


def _reply(reply: Reply, refs: Refs) -> dict[str, Any]:
    out: dict[str, Any] = {"description": reply.description}
    if reply.headers:
        out["headers"] = {name: {"description": header.description,
                                 "schema": dict(header.schema)}
                          for name, header in reply.headers.items()}
    if reply.content:
        out["content"] = {}
        for media, content in reply.content.items():
            out["content"][media] = {"schema": _content_schema(content, refs)}
            if content.shape is Shape.EVENTS:
                # Also beside the schema, where tools that read media types look.
                out["content"][media]["x-sse-events"] = out["content"][media]["schema"].pop(
                    "x-sse-events")
    return out


def _request_body(route: Route, refs: Refs) -> dict[str, Any] | None:
    model = route.body
    if model is None or model is NoBody:
        return None
    schema = ref(model.__name__) if hasattr(model, "openapi_components") else refs[
        (model, "validation")]
    content: dict[str, Any] = {"application/json": {"schema": schema}}
    if getattr(model, "accepts_forms", False):
        json_fields = getattr(model, "form_json_fields", ())
        encoding = {name: {"contentType": "application/json"} for name in json_fields}
        for media in FORM_TYPES:
            content[media] = {"schema": schema}
            if encoding:
                content[media]["encoding"] = {k: dict(v) for k, v in encoding.items()}
    body: dict[str, Any] = {"required": route.body_required, "content": content}
    description = route.body_description or (model.__doc__ or "").strip()
    if description:
        body["description"] = description
    return body


def operation(route: Route, refs: Refs) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": route.operation_id, "summary": route.summary,
                          "tags": [route.tag]}
    if route.description:
        op["description"] = route.description
    parameters = route_parameters(route)
    if parameters:
        op["parameters"] = parameters
    body = _request_body(route, refs)
    if body is not None:
        op["requestBody"] = body
    if route.access in SECURITY:
        op["security"] = SECURITY[route.access]
    responses: dict[str, Any] = {}
    for reply in route.replies:
        key = str(reply.status)
        if key in responses:
            raise ValueError(f"{route.operation_id}: two answers with status {key}")
        responses[key] = _reply(reply, refs)
    for status, problem in route.all_errors().items():
        if str(status) in responses:
            raise ValueError(f"{route.operation_id}: {status} is both a success and an error")
        if problem.component is not None:
            responses[str(status)] = {"$ref": f"#/components/responses/{problem.component}"}
        else:
            responses[str(status)] = {
                "description": problem.description,
                "content": {"application/json": {"schema": ref("Error")}}}
    responses["default"] = {"$ref": "#/components/responses/Internal"}
    op["responses"] = dict(sorted(responses.items()))
    return op
