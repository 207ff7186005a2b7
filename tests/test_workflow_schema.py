"""Workflow definitions are a model: node params are checked on save with the node id and
the field's path, and the same model is the JSON Schema the API and the CLI publish."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient
from auth_fixtures import admin, anon, auth_server, auth_settings, new_client  # noqa: F401
from jsonschema import Draft202012Validator
from pydantic import Field

from service.engine.params import ParamsModel, templated
from service.engine.registry import NodeType, builtin_registry
from service.workflows import WorkflowInvalid
from service.workflows.definition import parse_definition
from service.workflows.schema import JSON_SCHEMA_DIALECT, workflow_json_schema

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "config" / "examples").glob("*.json"))
COMMITTED_SCHEMA = ROOT / "config" / "workflow.schema.json"


def with_node(node: dict[str, Any]) -> dict[str, Any]:
    return {"name": "w", "nodes": [{"id": "first", "type": "noop"}, node]}


async def test_the_schema_is_public_and_validates_every_example(anon: TestClient) -> None:
    resp = await anon.get("/api/v1/schemas/workflow.json")
    assert resp.status == 200
    assert resp.content_type == "application/schema+json"
    schema = orjson.loads(await resp.read())
    assert schema["$schema"] == JSON_SCHEMA_DIALECT
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    assert EXAMPLES
    for path in EXAMPLES:
        errors = list(validator.iter_errors(orjson.loads(path.read_bytes())))
        assert not errors, (path.name, errors[0].message if errors else None)


@pytest.mark.parametrize(("node", "path"), [
    ({"id": "d", "type": "delay", "params": {"ms": 10, "millis": 5}}, "params.millis"),
    ({"id": "d", "type": "delay", "params": {"ms": "ten"}}, "params.ms"),
    ({"id": "d", "type": "delay", "params": {"ms": -1}}, "params.ms"),
    ({"id": "h", "type": "http_request", "params": {"url": "http://x", "headers": "h"}},
     "params.headers"),
    ({"id": "c", "type": "condition", "params": {"left": 1, "op": "is"}}, "params.op"),
    ({"id": "r", "type": "noop", "retry": {"maxAttempts": "3"}}, "retry.maxAttempts"),
    ({"id": "t", "type": "noop", "timeoutMs": 0}, "timeoutMs"),
    ({"id": "x", "type": "noop", "afterr": ["first"]}, "afterr"),
])
async def test_a_bad_field_is_refused_on_save_with_node_id_and_path(
    admin: TestClient, node: dict[str, Any], path: str,
) -> None:
    definition = with_node(node)
    resp = await admin.post("/api/v1/workflows", json=definition)
    body = await resp.json()
    assert resp.status == 422, body
    errors = body["error"]["details"]["errors"]
    assert {"nodeId": node["id"], "path": path} == {
        key: errors[0][key] for key in ("nodeId", "path")}
    assert body["error"]["details"]["nodeIds"] == [node["id"]]
    # The published schema refuses the same definition, so an editor says so first.
    schema = workflow_json_schema(builtin_registry())
    assert list(Draft202012Validator(schema).iter_errors(definition))


async def test_every_bad_field_is_named_not_only_the_first(admin: TestClient) -> None:
    resp = await admin.post("/api/v1/workflows", json={"name": "w", "nodes": [
        {"id": "a", "type": "delay", "params": {"ms": "x", "extra": 1}},
        {"id": "b", "type": "teleport"},
        {"id": "c", "type": "transform", "params": {}, "after": ["nowhere"]},
    ]})
    body = await resp.json()
    assert resp.status == 422
    found = {(e["nodeId"], e.get("path")) for e in body["error"]["details"]["errors"]}
    assert {("a", "params.ms"), ("a", "params.extra"), ("b", ""), ("c", "params.value"),
            ("c", None)} == found
    assert any("teleport" in e["message"] for e in body["error"]["details"]["errors"])


def test_templates_stand_for_typed_values() -> None:
    definition = with_node({"id": "d", "type": "delay", "params": {"ms": "{{inputs.ms}}"}})
    parsed = parse_definition(definition, builtin_registry())
    assert parsed.nodes["d"].params == {"ms": "{{inputs.ms}}"}  # kept raw, rendered per run


def test_a_stored_definition_with_fields_refused_today_still_loads() -> None:
    older = with_node({"id": "n", "type": "noop", "params": {"note": "kept"}, "color": "red"})
    with pytest.raises(WorkflowInvalid):
        parse_definition(older, builtin_registry())
    assert parse_definition(older, builtin_registry(), stored=True).nodes["n"].params == {
        "note": "kept"}


def test_the_committed_schema_file_is_the_generated_one() -> None:
    generated = workflow_json_schema(builtin_registry())
    assert orjson.loads(COMMITTED_SCHEMA.read_bytes()) == generated, (
        "regenerate with: runstream workflows schema > config/workflow.schema.json")


def test_the_cli_prints_the_schema_of_the_installed_node_types() -> None:
    script = Path(sys.executable).parent / "runstream"
    out = subprocess.run([str(script), "workflows", "schema"], check=True,
                         capture_output=True, timeout=60).stdout
    schema = orjson.loads(out)
    assert {"DelayNode", "HttpRequestNode", "SubworkflowNode"} <= set(schema["$defs"])
    if not entry_points(group="runstream.nodes"):  # no plugins: exactly the built-ins
        assert schema == orjson.loads(COMMITTED_SCHEMA.read_bytes())


class GreetParams(ParamsModel):
    who: str = Field(description="Whom to greet.")
    times: templated(int) = 1  # type: ignore[valid-type]


class Greet(NodeType):
    """Greets someone."""

    pure = True
    params_model = GreetParams

    def run_inline(self, params: dict[str, Any], inputs: dict[str, Any]) -> Any:
        return f"hello {params['who']}" * params["times"]


def test_a_plugin_params_model_is_checked_and_published() -> None:
    registry = builtin_registry()
    registry.register("greet", Greet)
    schema = workflow_json_schema(registry)
    assert schema["$defs"]["GreetParams"]["properties"]["who"]["description"] == "Whom to greet."
    parse_definition(with_node({"id": "g", "type": "greet",
                                "params": {"who": "you", "times": "{{inputs.n}}"}}), registry)
    with pytest.raises(WorkflowInvalid) as caught:
        parse_definition(with_node({"id": "g", "type": "greet", "params": {"times": 2.5}}),
                         registry)
    assert {e["path"] for e in caught.value.errors} == {"params.who", "params.times"}
