"""The workflow definition as a model, built from the installed node types.

One model per registry validates a definition when it is saved (every field, each
node's `params` against its type's `params_model`) and is the JSON Schema that
`GET /api/v1/schemas/workflow.json` and `runstream workflows schema` publish. Graph
rules (unknown `after` ids, cycles, branch edges, templates) are checked after it, in
definition.py, because a model cannot say them.

Stored versions are not checked against the model again (definition.py): a version
saved before a field was refused must still run, as it did when it was saved.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
)

from service.limits import (
    MAX_DESCRIPTION_CHARS,
    MAX_NAME_CHARS,
    MAX_NODE_ID_CHARS,
    MAX_NODES,
    MAX_PROBLEMS,
    MAX_RETRY_ATTEMPTS,
    MAX_RETRY_MULTIPLIER,
)

if TYPE_CHECKING:
    from service.engine.registry import NodeRegistry

SCHEMA_ID = "/api/v1/schemas/workflow.json"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

NodeId = Annotated[str, Field(min_length=1, max_length=MAX_NODE_ID_CHARS, pattern=r"^[^.]+$",
                              description="Unique in the workflow; no dots.")]
PositiveMs = Annotated[int, Field(gt=0)]


def _none_is_empty_object(value: Any) -> Any:
    return {} if value is None else value


def _none_is_empty_list(value: Any) -> Any:
    return [] if value is None else value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


@functools.cache
def _parts() -> tuple[type[BaseModel], type[BaseModel], type[BaseModel]]:
    base = _Strict
    retry: dict[str, Any] = {
        "maxAttempts": (Annotated[int, Field(ge=1, le=MAX_RETRY_ATTEMPTS)], 1),
        "backoffMs": (Annotated[int, Field(ge=0)], 0),
        "multiplier": (Annotated[float, Field(ge=1, le=MAX_RETRY_MULTIPLIER)], 2.0),
    }
    branch_edge: dict[str, Any] = {
        "node": (str, Field(description="A condition node.")),
        "branch": (bool | None, Field(None, description="The branch followed; none: any.")),
    }
    trigger: dict[str, Any] = {
        "staticData": (Annotated[dict[str, Any], BeforeValidator(_none_is_empty_object)],
                       Field(default_factory=dict, description=(
            "Trigger data; a run's inputs are merged over it."))),
        "continueOnDisconnect": (bool, Field(False, description=(
            "FlowTrux streams: keep running when the client disconnects."))),
    }
    return (create_model("Retry", __base__=base, **retry),
            create_model("BranchEdge", __base__=base, **branch_edge),
            create_model("Trigger", __base__=base, **trigger))


def _node_model(registry: NodeRegistry, type_name: str) -> type[BaseModel]:
    retry, branch_edge, _ = _parts()
    params: Any = registry.params_model(type_name) or dict[str, Any]
    title = "".join(part.title() for part in type_name.split("_"))
    fields: dict[str, Any] = {
        "id": (NodeId, ...),
        "type": (Literal[type_name], ...),
        "name": (str | None, Field(None, max_length=MAX_NAME_CHARS,
                                   description="Shown in streams and the console.")),
        "description": (str | None, Field(None, max_length=MAX_DESCRIPTION_CHARS)),
        "params": (Annotated[params, BeforeValidator(_none_is_empty_object)],
                   Field(default_factory=dict, validate_default=True)),
        "after": (Annotated[list[str | branch_edge],  # type: ignore[valid-type]
                            BeforeValidator(_none_is_empty_list)], Field(
            default_factory=list, description=(
                "Predecessors: node ids, or {node, branch} to follow one branch of a "
                "condition."))),
        "retry": (retry | None, None),
        "timeoutMs": (PositiveMs | None, None),
    }
    return create_model(f"{title}Node", __base__=_Strict,
                        __doc__=registry.description(type_name) or None, **fields)


def _definition_model(registry: NodeRegistry) -> type[BaseModel]:
    return _model_for(registry, registry.names())


# Keyed by the registry's type names too: a type registered later makes a new model.
@functools.lru_cache(maxsize=8)
def _model_for(registry: NodeRegistry, names: frozenset[str]) -> type[BaseModel]:
    _, _, trigger = _parts()
    nodes = tuple(_node_model(registry, name) for name in sorted(names))
    node: Any = Annotated[Union[nodes], Field(discriminator="type")]  # noqa: UP007
    fields: dict[str, Any] = {
        "schema_": (str | None, Field(None, alias="$schema", description=(
            "The JSON Schema of definitions, for editors; ignored by the service."))),
        "name": (Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS),
                           AfterValidator(_not_blank)], ...),
        "description": (str | None, Field(None, max_length=MAX_DESCRIPTION_CHARS)),
        "trigger": (trigger | None, None),
        "timeoutMs": (PositiveMs | None, Field(None, description="The whole run's limit.")),
        "nodes": (Annotated[list[node], Field(min_length=1, max_length=MAX_NODES)], ...),
    }
    return create_model("WorkflowDefinition", __base__=_Strict, **fields)


def definition_errors(registry: NodeRegistry, raw: Any) -> list[dict[str, Any]]:
    """The problems the model finds in `raw`, as {nodeId, path, message}; [] when none.

    At most MAX_PROBLEMS, and a last one saying how many more there were.
    """
    try:
        _definition_model(registry).model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        problems = [_problem(raw, error) for error in errors[:MAX_PROBLEMS]]
        if len(errors) > MAX_PROBLEMS:
            problems.append({"nodeId": None, "path": "",
                             "message": f"and {len(errors) - MAX_PROBLEMS} more problems"})
        return problems
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
        loc.append("type")
    elif error["type"] == "union_tag_not_found":
        message = "type is required"
        loc.append("type")
    path = ".".join(str(part) for part in loc)
    return {"nodeId": node_id, "path": path,
            "message": f"{path}: {message}" if path else message}


def definition_components(registry: NodeRegistry, ref_template: str) -> dict[str, Any]:
    """The definition's schema and every schema it uses, as named components (OpenAPI)."""
    schema = _definition_model(registry).model_json_schema(
        by_alias=True, ref_template=ref_template)
    components: dict[str, Any] = schema.pop("$defs")
    components["WorkflowDefinition"] = schema
    return components


def workflow_json_schema(registry: NodeRegistry) -> dict[str, Any]:
    """The JSON Schema (2020-12) of a definition with every node type of `registry`."""
    schema = _definition_model(registry).model_json_schema(by_alias=True)
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": SCHEMA_ID, **schema,
            "title": "runstream workflow definition"}
