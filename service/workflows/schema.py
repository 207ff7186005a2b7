"""The workflow definition as a model, built from the installed node types.

One model per registry validates a definition when it is saved (every field, each
node's `params` against its type's `params_model`) and is the JSON Schema that
`GET /api/v1/schemas/workflow.json` and `runstream workflows schema` publish. Graph
rules (unknown `after` ids, cycles, branch edges, templates) are checked after it, in
definition.py, because a model cannot say them.

Stored versions are read back with a lenient twin of the model (unknown fields
ignored): a definition saved before a field was refused must still run.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model

if TYPE_CHECKING:
    from service.engine.registry import NodeRegistry

MAX_NODES = 5000
# A name travels in every event of its node: it must never crowd out the node's data.
MAX_NAME_CHARS = 200
MAX_DESCRIPTION_CHARS = 2000
SCHEMA_ID = "/api/v1/schemas/workflow.json"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

Extra = Literal["forbid", "ignore"]
NodeId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^.]+$",
                              description="Unique in the workflow; no dots.")]
PositiveMs = Annotated[int, Field(gt=0)]


def _none_is_empty(value: Any) -> Any:
    return {} if value is None else value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


def _base(extra: Extra) -> type[BaseModel]:
    return _Strict if extra == "forbid" else _Lenient


@functools.cache
def _parts(extra: Extra) -> tuple[type[BaseModel], type[BaseModel], type[BaseModel]]:
    base = _base(extra)
    retry: dict[str, Any] = {
        "maxAttempts": (Annotated[int, Field(ge=1, le=100)], 1),
        "backoffMs": (Annotated[int, Field(ge=0)], 0),
        "multiplier": (Annotated[float, Field(ge=1, le=10)], 2.0),
    }
    branch_edge: dict[str, Any] = {
        "node": (str, Field(description="A condition node.")),
        "branch": (bool | None, Field(None, description="The branch followed; none: any.")),
    }
    trigger: dict[str, Any] = {
        "staticData": (dict[str, Any], Field(default_factory=dict, description=(
            "Trigger data; a run's inputs are merged over it."))),
        "continueOnDisconnect": (bool, Field(False, description=(
            "FlowTrux streams: keep running when the client disconnects."))),
    }
    return (create_model("Retry", __base__=base, **retry),
            create_model("BranchEdge", __base__=base, **branch_edge),
            create_model("Trigger", __base__=base, **trigger))


def _lenient_params(model: type[BaseModel]) -> type[BaseModel]:
    return type(f"{model.__name__}Stored", (model,),
                {"model_config": ConfigDict(extra="ignore"), "__module__": model.__module__})


def _node_model(registry: NodeRegistry, type_name: str, extra: Extra) -> type[BaseModel]:
    retry, branch_edge, _ = _parts(extra)
    params: Any = registry.params_model(type_name)
    if params is None:
        params = dict[str, Any]
    elif extra == "ignore":
        params = _lenient_params(params)
    title = "".join(part.title() for part in type_name.split("_"))
    fields: dict[str, Any] = {
        "id": (NodeId, ...),
        "type": (Literal[type_name], ...),
        "name": (str | None, Field(None, max_length=MAX_NAME_CHARS,
                                   description="Shown in streams and the console.")),
        "description": (str | None, Field(None, max_length=MAX_DESCRIPTION_CHARS)),
        "params": (Annotated[params, BeforeValidator(_none_is_empty)],
                   Field(default_factory=dict, validate_default=True)),
        "after": (list[str | branch_edge], Field(  # type: ignore[valid-type]
            default_factory=list, description=(
                "Predecessors: node ids, or {node, branch} to follow one branch of a "
                "condition."))),
        "retry": (retry | None, None),
        "timeoutMs": (PositiveMs | None, None),
    }
    return create_model(f"{title}Node", __base__=_base(extra),
                        __doc__=registry.description(type_name) or None, **fields)


@functools.cache
def _definition_model(registry: NodeRegistry, extra: Extra) -> type[BaseModel]:
    _, _, trigger = _parts(extra)
    nodes = tuple(_node_model(registry, name, extra) for name in sorted(registry.names()))
    node: Any = Annotated[Union[nodes], Field(discriminator="type")]  # noqa: UP007
    fields: dict[str, Any] = {
        "schema_": (str | None, Field(None, alias="$schema", description=(
            "The JSON Schema of definitions, for editors; ignored by the service."))),
        "name": (Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS,
                                      pattern=r"\S")], ...),
        "description": (str | None, Field(None, max_length=MAX_DESCRIPTION_CHARS)),
        "trigger": (trigger | None, None),
        "timeoutMs": (PositiveMs | None, Field(None, description="The whole run's limit.")),
        "nodes": (Annotated[list[node], Field(min_length=1, max_length=MAX_NODES)], ...),
    }
    return create_model("WorkflowDefinition", __base__=_base(extra), **fields)


def definition_errors(registry: NodeRegistry, raw: Any, stored: bool = False) -> list[dict[str, Any]]:
    """Every problem the model finds in `raw`, as {nodeId, path, message}; [] when none."""
    model = _definition_model(registry, "ignore" if stored else "forbid")
    try:
        model.model_validate(raw)
    except ValidationError as exc:
        return [_problem(raw, error) for error in exc.errors(include_url=False)]
    return []


def _problem(raw: Any, error: Any) -> dict[str, Any]:
    loc = list(error["loc"])
    node_id = None
    if len(loc) >= 2 and loc[0] == "nodes" and isinstance(loc[1], int):
        item = raw["nodes"][loc[1]]
        if isinstance(item, dict):
            candidate = item.get("id")
            if isinstance(candidate, str) and candidate and "." not in candidate:
                node_id = candidate
            if len(loc) > 2 and loc[2] == item.get("type"):
                del loc[2]  # the union's tag: the node's own type, not a field
        loc = [f"nodes[{loc[1]}]", *loc[2:]] if node_id is None else loc[2:]
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "union_tag_invalid":
        message = f"unknown node type {error['ctx']['tag']!r}"
    elif error["type"] == "union_tag_not_found":
        message = "type is required"
    path = ".".join(str(part) for part in loc)
    return {"nodeId": node_id, "path": path,
            "message": f"{path}: {message}" if path else message}


def workflow_json_schema(registry: NodeRegistry) -> dict[str, Any]:
    """The JSON Schema (2020-12) of a definition with every node type of `registry`."""
    schema = _definition_model(registry, "forbid").model_json_schema(by_alias=True)
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": SCHEMA_ID, **schema,
            "title": "runstream workflow definition"}
