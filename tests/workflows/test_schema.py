"""Workflow definitions are a model: node params are checked on save with the node id and
the field's path, and the same model is the JSON Schema the API and the CLI publish."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator
from pydantic import Field

from eventstore.tables import Tables
from projections.vocabulary import RunStatus
from service.engine.node_api import NodeType
from service.engine.params import ParamsModel, templated
from service.engine.registry import builtin_registry
from service.limits import MAX_PROBLEMS
from service.workflows import WorkflowInvalid
from service.workflows.definition import parse_definition
from service.workflows.repository import WorkflowRepository
from service.workflows.schema import JSON_SCHEMA_DIALECT, workflow_json_schema
from tests.support.engine import Harness

ROOT = Path(__file__).resolve().parents[2]
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
    assert {("a", "params.ms"), ("a", "params.extra"), ("b", "type"), ("c", "params.value"),
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


# Shapes the rules before the model accepted on save; such versions must still run.
OLDER_VERSION = {
    "name": "n" * 300, "description": 5,
    "trigger": {"staticData": None, "continueOnDisconnect": 1},
    "nodes": [
        {"id": "a", "type": "noop", "params": {"note": "kept"}, "after": None, "color": "red"},
        {"id": "b", "type": "transform", "params": {"value": "{{trigger.data.x}}"},
         "after": ["a"]},
    ],
}


async def test_a_version_stored_under_older_rules_still_runs(harness: Harness) -> None:
    with pytest.raises(WorkflowInvalid):
        harness.repo.validate(OLDER_VERSION)  # refused if saved today
    workflow = await harness.repo.create("default", {"name": "w", "nodes": [
        {"id": "a", "type": "noop"}]}, "tester")
    # As an earlier release stored it: the version row holds the older definition.
    await Tables(harness.store).execute(
        "UPDATE workflow_versions SET definition = ? WHERE workflow_id = ?",
        (orjson.dumps(OLDER_VERSION), workflow.id))
    fresh = WorkflowRepository(harness.store)  # nothing cached from the save
    _, definition = await fresh.parsed(workflow.id, 1)
    assert definition.static_data == {}
    assert definition.nodes["a"].after == ()
    harness.engine.workflows = fresh
    run_id = await harness.engine.start_run(workflow.id, "default", {"x": 7}, {}, "tester")
    await asyncio.wait_for(harness.engine.wait(run_id), 10)
    state = await harness.engine.run_state(run_id)
    assert state.status == RunStatus.COMPLETED
    assert state.output == {"b": 7}


def test_a_templated_subworkflow_version_is_accepted() -> None:
    parse_definition(with_node({"id": "s", "type": "subworkflow", "params": {
        "workflow": "child", "version": "{{inputs.v}}"}}), builtin_registry())


def test_null_means_empty_for_after_and_static_data() -> None:
    parsed = parse_definition({"name": "w", "trigger": {"staticData": None},
                               "nodes": [{"id": "a", "type": "noop", "after": None}]},
                              builtin_registry())
    assert parsed.static_data == {}
    assert parsed.nodes["a"].after == ()


def test_a_type_registered_later_is_known_to_the_model() -> None:
    registry = builtin_registry()
    parse_definition(with_node({"id": "n", "type": "noop"}), registry)
    registry.register("greet", Greet)
    parse_definition(with_node({"id": "g", "type": "greet", "params": {"who": "x"}}), registry)


def test_problems_are_capped_with_a_count() -> None:
    params = {f"k{i}": i for i in range(500)}
    with pytest.raises(WorkflowInvalid) as caught:
        parse_definition(with_node({"id": "n", "type": "noop", "params": params}),
                         builtin_registry())
    assert len(caught.value.errors) == MAX_PROBLEMS + 1
    assert caught.value.errors[-1]["message"] == f"and {500 - MAX_PROBLEMS} more problems"
