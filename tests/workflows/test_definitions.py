"""Definitions: validation on save, immutable versions per workspace, file import."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from service.workflows import WorkflowInvalid, WorkflowNotFound, WorkflowRepository
from service.workflows.errors import WorkflowVersionNotFound
from service.workflows.importer import import_directory, import_workflow_file

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"


def node(id_: str, type_: str = "noop", after: list[Any] | None = None, **extra: Any) -> dict:
    return {"id": id_, "type": type_, "after": after or [], **extra}


def invalid(repo: WorkflowRepository, definition: dict) -> WorkflowInvalid:
    with pytest.raises(WorkflowInvalid) as caught:
        repo.validate(definition)
    return caught.value


async def test_unknown_type_and_unknown_after_name_the_offending_nodes(
    repo: WorkflowRepository,
) -> None:
    error = invalid(repo, {"name": "w", "nodes": [
        node("a"), node("b", "teleport", ["a"]), node("c", after=["ghost"])]})
    assert error.node_ids == ["b", "c"]
    assert any("teleport" in e["message"] for e in error.errors)


async def test_cycles_are_refused_with_every_node_on_the_cycle(repo: WorkflowRepository) -> None:
    error = invalid(repo, {"name": "w", "nodes": [
        node("start"), node("a", after=["start", "c"]), node("b", after=["a"]),
        node("c", after=["b"]), node("tail", after=["c"])]})
    assert error.node_ids == ["a", "b", "c"]


async def test_duplicate_ids_and_self_loops_are_refused(repo: WorkflowRepository) -> None:
    error = invalid(repo, {"name": "w", "nodes": [node("a"), node("a"), node("b", after=["b"])]})
    assert error.node_ids == ["a", "b"]


async def test_bad_templates_and_non_upstream_references_are_refused(
    repo: WorkflowRepository,
) -> None:
    error = invalid(repo, {"name": "w", "nodes": [
        node("a", "transform", params={"value": "{{inputs.x"}),
        node("b", "transform", params={"value": "{{nodes.c.output}}"}),
        node("c", "transform", ["a"], params={"value": "{{nodes.zzz.output}}"}),
    ]})
    assert error.node_ids == ["a", "b", "c"]


async def test_params_are_checked_per_node_type(repo: WorkflowRepository) -> None:
    error = invalid(repo, {"name": "w", "nodes": [
        node("c", "condition", params={"left": 1, "op": "approx", "right": 2}),
        node("d", "delay", params={"ms": -5}),
        node("h", "http_request", params={"method": "BREW"}),
        node("s", "subworkflow", params={}),
        node("r", retry={"maxAttempts": 0}),
        node("t", timeoutMs="soon"),
        node("x", after=[{"node": "r", "branch": True}]),
    ]})
    assert error.node_ids == ["c", "d", "h", "r", "s", "t", "x"]


async def test_structure_errors_without_node_ids(repo: WorkflowRepository) -> None:
    assert invalid(repo, {"nodes": []}).node_ids == []
    assert len(invalid(repo, {"nodes": []}).errors) == 2
    assert invalid(repo, []).errors[0]["message"] == "definition must be an object"  # type: ignore[arg-type]


async def test_a_valid_definition_parses_with_sinks_and_branches(repo: WorkflowRepository) -> None:
    parsed = repo.validate({"name": " Design example ", "trigger": {"staticData": {"p": 1}},
                            "nodes": [
        node("fetch", "http_request", params={"url": "{{env.API}}/t/{{trigger.data.id}}"},
             retry={"maxAttempts": 3, "backoffMs": 200}, timeoutMs=5000),
        node("check", "condition", ["fetch"],
             params={"left": "{{nodes.fetch.output.status}}", "op": "eq", "right": 200}),
        node("ok", "transform", [{"node": "check", "branch": True}],
             params={"value": {"t": "{{nodes.fetch.output.body}}"}}),
        node("bad", "fail", [{"node": "check", "branch": False}], params={"message": "no"}),
    ]})
    assert parsed.name == "Design example"
    assert parsed.sinks == ["ok", "bad"]
    assert parsed.nodes["fetch"].retry.delay_ms(2) == 400
    assert parsed.static_data == {"p": 1}


async def test_updates_make_new_immutable_versions(repo: WorkflowRepository) -> None:
    v1 = {"name": "w", "nodes": [node("a")]}
    v2 = {"name": "w2", "nodes": [node("a"), node("b", after=["a"])]}
    created = await repo.create("ws1", v1, "alice")
    updated = await repo.update(created.id, v2, "bob")
    assert (created.version, updated.version, updated.latest_version) == (1, 2, 2)
    assert (await repo.get_version(created.id, 1)).definition == v1
    assert (await repo.get(created.id)).definition == v2
    assert (await repo.get(created.id)).name == "w2"
    assert await repo.list_versions(created.id) == [1, 2]
    with pytest.raises(WorkflowInvalid):
        await repo.update(created.id, {"name": "w", "nodes": [node("a", "nope")]}, "bob")
    assert (await repo.get(created.id)).version == 2


async def test_workflows_are_scoped_to_their_workspace(repo: WorkflowRepository) -> None:
    created = await repo.create("ws1", {"name": "alpha", "nodes": [node("a")]}, "alice")
    await repo.create("ws1", {"name": "beta", "nodes": [node("a")]}, "alice")
    await repo.create("ws2", {"name": "alpha", "nodes": [node("a")]}, "alice")
    with pytest.raises(WorkflowNotFound):
        await repo.get(created.id, workspace_id="ws2")
    with pytest.raises(WorkflowVersionNotFound):
        await repo.get_version(created.id, 5)
    with pytest.raises(WorkflowNotFound):
        await repo.get("missing")
    items, total = await repo.list("ws1")
    assert total == 2
    assert {w.name for w in items} == {"alpha", "beta"}
    items, total = await repo.list("ws1", search="alp")
    assert (total, [w.name for w in items]) == (1, ["alpha"])
    found = await repo.find_by_name("ws1", "alpha")
    assert found is not None
    assert found.id == created.id


async def test_import_is_idempotent_and_versions_changed_files(
    repo: WorkflowRepository, tmp_path: Path,
) -> None:
    path = tmp_path / "w.json"
    path.write_bytes(orjson.dumps({"name": "imported", "nodes": [node("a")]}))
    first = await import_workflow_file(repo, path, "default", "cli")
    again = await import_workflow_file(repo, path, "default", "cli")
    assert (first.id, again.version) == (again.id, 1)
    path.write_bytes(orjson.dumps({"name": "imported", "nodes": [node("a"), node("b")]}))
    changed = await import_workflow_file(repo, path, "default", "cli")
    assert (changed.id, changed.version) == (first.id, 2)
    path.write_bytes(b"{not json")
    with pytest.raises(ValueError, match="not JSON"):
        await import_workflow_file(repo, path, "default", "cli")


async def test_the_examples_import_and_validate(repo: WorkflowRepository) -> None:
    imported = await import_directory(repo, EXAMPLES, "default", "make-run")
    assert len(imported) >= 4
    assert {"Hello", "Triage by priority", "Deploy with approval"} <= {w.name for w in imported}
