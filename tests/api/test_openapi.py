"""GET /api/v1/openapi.json: a valid OpenAPI 3.1 document, generated from the route table,
that lists exactly the app's routes, each with the models of its body and answers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator
from pydantic import BaseModel, ConfigDict

from service.app import create_app
from service.openapi import OPENAPI_PATH, build_document
from service.openapi.components import ComponentClash
from service.routing import (
    ROUTES,
    Content,
    PathParam,
    Reply,
    RouteTable,
    Shape,
    bare,
    data,
    undocumented,
)
from service.settings import Settings

HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def app_routes(app: web.Application) -> set[tuple[str, str]]:
    """(path, method) of every route the app serves; aiohttp's implicit HEADs left out."""
    routes = set()
    for route in app.router.routes():
        resource = route.resource
        if route.method == "HEAD" or resource is None or isinstance(resource, web.StaticResource):
            continue
        # `canonical` drops any `:regex` from a `{name}`, which is OpenAPI's `{name}`.
        routes.add((resource.canonical, route.method.lower()))
    return routes


def documented_routes(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def refs(node: Any) -> Iterator[str]:
    """Every `$ref` in the document, extensions (`x-...`) included."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def resolve(document: dict[str, Any], pointer: str) -> Any:
    assert pointer.startswith("#/"), pointer
    node: Any = document
    for part in pointer[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def app_document(settings: Settings) -> dict[str, Any]:
    return build_document(create_app(settings)[ROUTES])


async def test_the_served_document_is_valid_openapi_3_1(
    aiohttp_client: Any, settings: Settings
) -> None:
    client: TestClient = await aiohttp_client(create_app(settings))
    # Public: no session, no token.
    response = await client.get(OPENAPI_PATH)
    assert response.status == 200
    assert response.content_type == "application/json"
    document = await response.json()
    assert document["openapi"] == "3.1.0"
    validate(document, cls=OpenAPIV31SpecValidator)
    assert document == build_document(client.app[ROUTES])


def test_every_route_of_the_app_is_documented_and_nothing_else(settings: Settings) -> None:
    app = create_app(settings)
    served = app_routes(app)
    documented = documented_routes(build_document(app[ROUTES]))
    assert (OPENAPI_PATH, "get") in served, "service.openapi.view is not in create_app"
    missing = sorted(served - documented)
    stale = sorted(documented - served)
    assert not missing, f"routes missing from the OpenAPI document: {missing}"
    assert not stale, f"documented routes the app does not serve: {stale}"


def test_every_reference_resolves(settings: Settings) -> None:
    # The validator follows the references it walks; this also covers `x-sse-events`.
    document = app_document(settings)
    for pointer in set(refs(document)):
        assert resolve(document, pointer) is not None, pointer


def test_dialect_routes_carry_their_tags(settings: Settings) -> None:
    document = app_document(settings)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            tags = operation["tags"]
            if path.startswith("/api/chats"):
                assert tags == ["chat"], (path, method)
            elif path.startswith("/api/workflows/"):
                assert tags == ["flowtrux"], (path, method)
            elif path.startswith("/api/v1/workflow-requests"):
                assert tags == ["splox"], (path, method)
            else:
                assert not {"chat", "flowtrux", "splox"} & set(tags), (path, method)


def test_every_route_names_the_models_of_its_body_and_answers(settings: Settings) -> None:
    assert undocumented(create_app(settings)[ROUTES]) == []


async def _ok(request: web.Request) -> web.Response:
    return web.json_response({})


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


def test_a_route_registered_without_models_is_reported() -> None:
    table = RouteTable()
    table.register("GET", "/things", _ok, operation_id="listThings", tag="service",
                   summary="An answer without a model",
                   replies=(Reply(200, "Things.", {"application/json": Content(Shape.DATA)}),))
    table.register("POST", "/things", _ok, operation_id="createThing", tag="service",
                   summary="A write without a body model",
                   replies=(data(Thing, "Created.", status=201),))
    table.register("GET", "/things/stream", _ok, operation_id="streamThings", tag="service",
                   summary="A stream without event models",
                   replies=(Reply(200, "Frames.", {"text/event-stream": Content(Shape.EVENTS)}),))
    table.register("GET", "/things/{id}", _ok, operation_id="getThing", tag="service",
                   summary="No answer at all", replies=(),
                   path_params={"id": PathParam("Id.")})
    app = web.Application()
    table.install(app)
    assert len(app_routes(app)) == 4
    assert undocumented(app[ROUTES]) == [
        "GET /things: the 200 application/json answer has no model",
        "POST /things: no request body model (NoBody if it reads none)",
        "GET /things/stream: the stream names no event models",
        "GET /things/{id}: no success answer",
    ]


def test_a_path_parameter_must_be_described() -> None:
    with pytest.raises(ValueError, match="path parameters"):
        RouteTable().register("GET", "/things/{id}", _ok, operation_id="getThing",
                              tag="service", summary="?", replies=(bare(Thing, "A thing."),))


def test_two_models_with_one_name_are_refused() -> None:
    def other_thing() -> type[BaseModel]:
        class Thing(BaseModel):
            size: int
        return Thing

    table = RouteTable()
    table.register("GET", "/a", _ok, operation_id="a", tag="service", summary="a",
                   replies=(bare(Thing, "A."),))
    table.register("GET", "/b", _ok, operation_id="b", tag="service", summary="b",
                   replies=(bare(other_thing(), "B."),))
    with pytest.raises(ComponentClash, match="Thing"):
        build_document(table)
