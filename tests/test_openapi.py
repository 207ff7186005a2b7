"""GET /api/v1/openapi.json: a valid OpenAPI 3.1 document that lists exactly the app's routes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator

from service.app import create_app
from service.openapi import OPENAPI_PATH, build_document
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
    assert document == build_document()


def test_every_route_of_the_app_is_documented_and_nothing_else(settings: Settings) -> None:
    served = app_routes(create_app(settings))
    documented = documented_routes(build_document())
    assert (OPENAPI_PATH, "get") in served, "service.openapi.setup_routes is not in create_app"
    missing = sorted(served - documented)
    stale = sorted(documented - served)
    assert not missing, f"routes missing from the OpenAPI document: {missing}"
    assert not stale, f"documented routes the app does not serve: {stale}"


def test_every_reference_resolves() -> None:
    # The validator follows the references it walks; this also covers `x-sse-events`.
    document = build_document()
    for pointer in set(refs(document)):
        assert resolve(document, pointer) is not None, pointer


def test_dialect_routes_carry_their_tags() -> None:
    document = build_document()
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
