"""The route table: every route of the app, registered once with what documents it.

A view module adds its routes with `table.register(...)`, naming the method, the path,
the handler, the operation id, the tag, the request body and query models, the success
answers (each with its status and body model; for a stream, the model of each event) and
the error statuses. `create_app` installs the table on the router, which is the only way
a route reaches the app, and the OpenAPI document (service/openapi/) is generated from
it, so that a route cannot exist without being described.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aiohttp import web
from pydantic import BaseModel

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Schema = dict[str, Any]

UUID_SCHEMA: Schema = {"type": "string", "format": "uuid"}
TEXT_SCHEMA: Schema = {"type": "string"}
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PATH_PARAMETER = re.compile(r"{([^}:]+)(?::[^}]*)?}")


class Access(StrEnum):
    """Who may call a route (the middleware decides; this documents it)."""

    SIGNED_IN = "signed_in"  # a session cookie or an API token
    OPTIONAL = "optional"  # anyone; credentials are used when sent
    PUBLIC = "public"  # anyone


class Shape(StrEnum):
    """How a model makes an answer's body."""

    BARE = "bare"  # the model is the body
    DATA = "data"  # {"data": model}
    DATA_LIST = "data_list"  # {"data": [model, ...]}
    PAGE = "page"  # {"data": [model, ...], "pagination": {...}}
    LINES = "lines"  # one model (JSON) per line
    TEXT = "text"  # a file or a document described by its media type only
    EVENTS = "events"  # server-sent events, each event's data a model


@dataclass(frozen=True, slots=True)
class Content:
    """One media type of an answer: its body's model and shape."""

    shape: Shape
    model: type[BaseModel] | None = None
    # Server-sent events: the model of the `data:` of each `event:` name.
    events: Mapping[str, type[BaseModel]] = field(default_factory=dict)
    # A TEXT body's schema when it has one (a JSON document of its own).
    schema: Schema | None = None


@dataclass(frozen=True, slots=True)
class Header:
    description: str
    schema: Schema = field(default_factory=lambda: dict(TEXT_SCHEMA))


@dataclass(frozen=True, slots=True)
class Reply:
    """One success answer of a route."""

    status: int
    description: str
    content: Mapping[str, Content] = field(default_factory=dict)
    headers: Mapping[str, Header] = field(default_factory=dict)


def data(model: type[BaseModel], description: str, status: int = 200,
         headers: Mapping[str, Header] | None = None) -> Reply:
    """`{"data": model}`."""
    return Reply(status, description, {"application/json": Content(Shape.DATA, model)},
                 headers or {})


def page(model: type[BaseModel], description: str) -> Reply:
    """`{"data": [model, ...], "pagination": {...}}`."""
    return Reply(200, description, {"application/json": Content(Shape.PAGE, model)})


def bare(model: type[BaseModel], description: str, status: int = 200) -> Reply:
    """The model as the whole body (the dialects' answers)."""
    return Reply(status, description, {"application/json": Content(Shape.BARE, model)})


def stream(description: str, events: Mapping[str, type[BaseModel]],
           headers: Mapping[str, Header] | None = None) -> Reply:
    """A `text/event-stream` 200 whose `data:` of each event name is a model."""
    return Reply(200, description, {"text/event-stream": Content(Shape.EVENTS, events=events)},
                 headers or {})


def file_reply(description: str, media_types: tuple[str, ...], status: int = 200,
          headers: Mapping[str, Header] | None = None, schema: Schema | None = None) -> Reply:
    """A file or a document, described by its media types (HTML, JavaScript, a schema)."""
    return Reply(status, description,
                 {media: Content(Shape.TEXT, schema=schema) for media in media_types},
                 headers or {})


def empty(status: int, description: str, headers: Mapping[str, Header] | None = None) -> Reply:
    """An answer without a body (204, 304)."""
    return Reply(status, description, {}, headers or {})


@dataclass(frozen=True, slots=True)
class Problem:
    """An error answer: a shared one (`component`), or this route's own words about it."""

    status: int
    component: str | None = None
    description: str | None = None

    def saying(self, description: str) -> Problem:
        return Problem(self.status, None, description)


BAD_REQUEST = Problem(400, "BadRequest")
UNAUTHORIZED = Problem(401, "Unauthorized")
FORBIDDEN = Problem(403, "Forbidden")
NOT_FOUND = Problem(404, "NotFound")
CONFLICT = Problem(409, "Conflict")
CURSOR_BEYOND_LOG = Problem(409, "CursorBeyondLog")
PRUNED = Problem(410, "Pruned")
TOO_LARGE = Problem(413, "PayloadTooLarge")
INVALID_WORKFLOW = Problem(422, "InvalidWorkflow")
IDEMPOTENCY_KEY_REUSED = Problem(422, "IdempotencyKeyReused")
TOO_MANY_REQUESTS = Problem(429, "TooManyRequests")
TOO_MANY_STREAMS = Problem(429, "TooManyStreams")
UNAVAILABLE = Problem(503, "Unavailable")


@dataclass(frozen=True, slots=True)
class PathParam:
    description: str
    schema: Schema = field(default_factory=lambda: dict(UUID_SCHEMA))


class NoBody(BaseModel):
    """Named as the body of a write that reads none (logout)."""


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    operation_id: str
    tag: str
    summary: str
    replies: tuple[Reply, ...]
    errors: tuple[Problem, ...]
    body: type[BaseModel] | None
    body_required: bool
    body_description: str
    query: type[BaseModel] | None
    path_params: Mapping[str, PathParam]
    cursor: bool
    access: Access
    description: str
    # Reads an `Idempotency-Key` header (service/triggers/idempotency.py).
    idempotent: bool = False

    @property
    def writes(self) -> bool:
        return self.method in WRITE_METHODS

    @property
    def reads_body(self) -> bool:
        return self.body is not None and self.body is not NoBody

    def all_errors(self) -> dict[int, Problem]:
        """The declared errors, and those every route of its kind can answer."""
        implied: list[Problem] = []
        if self.access is Access.SIGNED_IN:
            implied += [UNAUTHORIZED, UNAVAILABLE]
            if self.writes:
                implied.append(FORBIDDEN)  # the CSRF rule on cookie writes
        if self.reads_body:
            implied.append(TOO_LARGE)
        if self.idempotent:
            implied.append(BAD_REQUEST)
            implied.append(IDEMPOTENCY_KEY_REUSED)
        return {problem.status: problem for problem in (*implied, *self.errors)}


class RouteTable:
    """The app's routes in registration order (aiohttp matches a plain resource
    registered before a dynamic one that also fits, so order is kept)."""

    def __init__(self) -> None:
        self._routes: list[Route] = []
        # Caches of what is derived from the whole table (the OpenAPI document).
        self.derived: dict[str, Any] = {}

    def __iter__(self) -> Iterator[Route]:
        return iter(self._routes)

    def __len__(self) -> int:
        return len(self._routes)

    def register(
        self, method: str, path: str, handler: Handler, *, operation_id: str, tag: str,
        summary: str, replies: tuple[Reply, ...], errors: tuple[Problem, ...] = (),
        body: type[BaseModel] | None = None, body_required: bool = True,
        body_description: str = "", query: type[BaseModel] | None = None,
        path_params: Mapping[str, PathParam] | None = None, cursor: bool = False,
        access: Access = Access.SIGNED_IN, description: str = "", idempotent: bool = False,
    ) -> None:
        """Add one route. Raises on a second route with the same method and path or
        operation id, and on a path parameter that is not described."""
        method = method.upper()
        params = dict(path_params or {})
        in_path = PATH_PARAMETER.findall(path)
        if sorted(in_path) != sorted(params):
            raise ValueError(f"{method} {path}: path parameters {in_path} described as "
                             f"{sorted(params)}")
        for route in self._routes:
            if (route.method, route.path) == (method, path):
                raise ValueError(f"{method} {path} is registered twice")
            if route.operation_id == operation_id:
                raise ValueError(f"operation id {operation_id!r} is used twice")
        self._routes.append(Route(
            method=method, path=path, handler=handler, operation_id=operation_id, tag=tag,
            summary=summary, replies=replies, errors=errors, body=body,
            body_required=body_required, body_description=body_description, query=query,
            path_params=params, cursor=cursor, access=access, description=description,
            idempotent=idempotent,
        ))
        self.derived.clear()

    def install(self, app: web.Application) -> None:
        """Add every route to `app`'s router; the table stays reachable at `ROUTES`."""
        for route in self._routes:
            if route.method == "GET":
                # With its implicit HEAD (headers only), as aiohttp's add_get gives.
                app.router.add_get(route.path, route.handler)
            else:
                app.router.add_route(route.method, route.path, route.handler)
        app[ROUTES] = self


def undocumented(table: RouteTable) -> list[str]:
    """What the table fails to say about its routes: answers without models, writes
    without a body model, streams without event models. [] when nothing."""
    problems = []
    for route in table:
        name = f"{route.method} {route.path}"
        if not any(200 <= reply.status < 300 for reply in route.replies):
            problems.append(f"{name}: no success answer")
        if route.writes and route.method != "DELETE" and route.body is None:
            problems.append(f"{name}: no request body model (NoBody if it reads none)")
        for reply in route.replies:
            if reply.status != 204 and reply.status != 304 and not reply.content:
                problems.append(f"{name}: the {reply.status} answer has no content")
            for media, content in reply.content.items():
                if content.shape is Shape.EVENTS and not content.events:
                    problems.append(f"{name}: the stream names no event models")
                elif content.shape not in (Shape.EVENTS, Shape.TEXT) and content.model is None:
                    problems.append(f"{name}: the {reply.status} {media} answer has no model")
                elif "json" in media and content.shape is Shape.TEXT and content.schema is None:
                    problems.append(f"{name}: the {reply.status} {media} answer has no schema")
    return problems


ROUTES = web.AppKey("routes", RouteTable)


def route_tag(request: web.Request) -> str:
    """The tag of the route that answered `request` (a stream's dialect); "" if none."""
    table = request.app.get(ROUTES)
    if table is None:
        return ""
    tags = table.derived.get("tags")
    if tags is None:
        tags = table.derived["tags"] = {route.handler: route.tag for route in table}
    return str(tags.get(request.match_info.handler, ""))
