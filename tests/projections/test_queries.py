"""Run list, search, counts and lookups read the same answers from either backend's tables."""

from __future__ import annotations

from typing import Any

from eventstore.interface import NO_STREAM, EventStore
from eventstore.records import NewEvent
from projections.queries import RunFilter, RunQueries
from projections.vocabulary import EventType as E
from tests.projections.run_histories import append_concurrently, created, node, random_runs
from tests.support.backends import Backend


async def populated(backend: Backend) -> tuple[EventStore, RunQueries, list[dict[str, Any]]]:
    store = await backend.open()
    await append_concurrently(store, random_runs(seed=4, runs=90, workflows=4))
    runs = backend.query("SELECT id, seq, workflow_id, workflow_name, workspace_id, status,"
                         " chat_id FROM runs ORDER BY seq DESC")
    return store, RunQueries(store), runs


async def test_pages_of_runs_are_newest_first_with_the_total_of_the_filter(
    backend: Backend,
) -> None:
    _, queries, runs = await populated(backend)
    workflow = runs[0]["workflow_id"]
    cases = [
        (RunFilter(), runs),
        (RunFilter(workflow_id=workflow), [r for r in runs if r["workflow_id"] == workflow]),
        (RunFilter(status="completed"), [r for r in runs if r["status"] == "completed"]),
        (RunFilter(workspace_ids=["ws-2"]), [r for r in runs if r["workspace_id"] == "ws-2"]),
        (RunFilter(chat_id="chat-3"), [r for r in runs if r["chat_id"] == "chat-3"]),
    ]
    for run_filter, expected in cases:
        assert expected, run_filter
        page, total = await queries.list_runs(run_filter, 5, 10)
        assert total == len(expected), run_filter
        assert [r["id"] for r in page] == [r["id"] for r in expected[5:15]], run_filter


async def test_a_name_search_ignores_case_and_honours_workspaces(backend: Backend) -> None:
    _, queries, runs = await populated(backend)
    name = runs[0]["workflow_name"]  # "Workflow N word"
    word = name.split()[-1].upper()
    expected = [r for r in runs if word.lower() in r["workflow_name"].lower()
                and r["workspace_id"] == "ws-1"]
    page, total = await queries.list_runs(
        RunFilter(workspace_ids=["ws-1"], name_search=word), 0, 100)
    assert [r["id"] for r in page] == [r["id"] for r in expected]
    assert total == len(expected) > 0
    # LIKE's own wildcards are searched for literally.
    assert await queries.list_runs(RunFilter(name_search="%"), 0, 10) == ([], 0)
    assert await queries.list_runs(RunFilter(workspace_ids=[]), 0, 10) == ([], 0)


async def test_a_run_its_nodes_counts_and_children(backend: Backend) -> None:
    store, queries, _ = await populated(backend)
    await store.append("run-q", [
        created("wf-q", "Query me", inputs={"a": [1, 2]}, envNames=["KEY"]),
        NewEvent(E.RUN_STARTED),
        node(E.NODE_STARTED, "first", nodeName="First", nodeType="code", attempt=1,
             input={"x": 1}),
        node(E.NODE_COMPLETED, "first", attempt=1, output={"y": 2}, durationMs=7),
        node(E.NODE_STARTED, "second", nodeName="Second", nodeType="code", attempt=1),
    ], NO_STREAM)
    await store.append("run-q-child", [created("wf-c", "Child", parentRunId="run-q",
                                               parentNodeId="second")], NO_STREAM)
    run = await queries.get_run("run-q")
    assert run is not None
    assert (run["status"], run["inputs"], run["envNames"], run["workflowName"]) == (
        "running", {"a": [1, 2]}, ["KEY"], "Query me")
    nodes = await queries.node_runs("run-q")
    assert [(n["nodeId"], n["status"]) for n in nodes] == [
        ("first", "completed"), ("second", "running")]
    assert (nodes[0]["input"], nodes[0]["output"], nodes[0]["durationMs"]) == (
        {"x": 1}, {"y": 2}, 7)
    first = await queries.node_run("run-q", "first")
    assert first is not None
    assert first["id"] == nodes[0]["id"]
    assert await queries.node_run("run-q", "missing") is None
    assert await queries.get_run("run-missing") is None
    # A counter a run has left stays, at zero.
    assert await queries.status_counts("wf-q", None) == {"pending": 0, "running": 1}
    assert await queries.status_counts("wf-q", ["ws-9"]) == {}
    assert await queries.child_runs("run-q") == ["run-q-child"]
