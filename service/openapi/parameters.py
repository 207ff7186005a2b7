"""OpenAPI parameters: a route's path parameters, its query model, its resume cursor."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from service.routing import Route


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """One optional query parameter per field of a query model."""
    schema = model.model_json_schema()
    parameters = []
    for name, field_schema in schema["properties"].items():
        field_schema = dict(field_schema)
        field_schema.pop("title", None)
        # A query parameter is absent or a value: `null` is not something a URL can say.
        options = field_schema.pop("anyOf", None)
        if options is not None:
            (field_schema_of_value,) = [o for o in options if o != {"type": "null"}]
            field_schema = {**field_schema_of_value, **field_schema}
            if field_schema.get("default", 0) is None:
                del field_schema["default"]
        description = field_schema.pop("description", "")
        parameters.append({"name": name, "in": "query", "required": False,
                           "description": description, "schema": field_schema})
    return parameters


def route_parameters(route: Route) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "description": param.description,
         "schema": dict(param.schema)}
        for name, param in route.path_params.items()
    ]
    if route.query is not None:
        parameters += query_parameters(route.query)
    if route.idempotent:
        parameters.append({"$ref": "#/components/parameters/IdempotencyKey"})
    if route.cursor:
        parameters += [{"$ref": "#/components/parameters/LastEventIdHeader"},
                       {"$ref": "#/components/parameters/LastEventIdQuery"}]
    return parameters
