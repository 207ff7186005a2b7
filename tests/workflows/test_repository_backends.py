"""The workflow repository holds the same on SQLite and on PostgreSQL: versions, lookups,
listing and search, concurrent saves."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from service.workflows import WorkflowNotFound, WorkflowRepository
from service.workflows.errors import WorkflowVersionNotFound
from tests.support.backends import Backend


def definition(name: str, nodes: int = 1) -> dict[str, Any]:
    return {"name": name, "nodes": [
        {"id": f"n{i}", "type": "noop", "after": [f"n{i - 1}"] if i else []}
        for i in range(nodes)]}


@pytest.fixture
async def workflows(backend: Backend) -> WorkflowRepository:
    repository = WorkflowRepository(await backend.open())
    await repository.ensure_schema()
    await repository.ensure_schema()  # a second start finds the tables there
    return repository


async def test_each_save_is_a_new_version_and_old_ones_stay(
        workflows: WorkflowRepository, backend: Backend) -> None:
    created = await workflows.create("ws", definition("first"), "alice")
    assert (created.version, created.latest_version, created.name) == (1, 1, "first")
    second = await workflows.update(created.id, definition("renamed", 2), "bob", "ws")
    assert (second.version, second.latest_version, second.created_by) == (2, 2, "bob")
    old = await workflows.get_version(created.id, 1)
    assert old.definition == definition("first")
    assert old.latest_version == 2
    latest = await workflows.get(created.id)
    assert latest.name == "renamed"
    assert len(latest.definition["nodes"]) == 2
    assert await workflows.list_versions(created.id) == [1, 2]
    stored = backend.query("SELECT version FROM workflow_versions WHERE workflow_id = ?",
                           created.id)
    assert sorted(row["version"] for row in stored) == [1, 2]


async def test_missing_and_foreign_workflows_are_not_found(
        workflows: WorkflowRepository) -> None:
    created = await workflows.create("ws", definition("mine"), "alice")
    with pytest.raises(WorkflowNotFound):
        await workflows.get(created.id, "other-workspace")
    with pytest.raises(WorkflowNotFound):
        await workflows.get("no-such-id")
    with pytest.raises(WorkflowVersionNotFound):
        await workflows.get_version(created.id, 7)
    with pytest.raises(WorkflowNotFound):
        await workflows.list_versions("no-such-id")


async def test_concurrent_saves_take_distinct_versions(workflows: WorkflowRepository) -> None:
    created = await workflows.create("ws", definition("busy"), "alice")
    saved = await asyncio.gather(*(
        workflows.update(created.id, definition(f"busy-{i}"), "alice") for i in range(8)))
    assert sorted(w.version for w in saved) == list(range(2, 10))
    assert await workflows.list_versions(created.id) == list(range(1, 10))
    assert (await workflows.get(created.id)).latest_version == 9


async def test_listing_is_newest_first_and_search_ignores_case_and_wildcards(
        workflows: WorkflowRepository) -> None:
    names = ["Alpha report", "beta", "ALPHA_2", "gamma 100%"]
    for name in names:
        await workflows.create("ws", definition(name), "alice")
    await workflows.create("elsewhere", definition("alpha hidden"), "alice")
    listed, total = await workflows.list("ws")
    assert [w.name for w in listed] == list(reversed(names))
    assert total == 4
    page, total = await workflows.list("ws", limit=2, offset=1)
    assert [w.name for w in page] == ["ALPHA_2", "beta"]
    assert total == 4
    found, total = await workflows.list("ws", search="alpha")
    assert {w.name for w in found} == {"Alpha report", "ALPHA_2"}
    assert total == 2
    underscore, _ = await workflows.list("ws", search="a_2")
    assert [w.name for w in underscore] == ["ALPHA_2"]
    percent, _ = await workflows.list("ws", search="0%")
    assert [w.name for w in percent] == ["gamma 100%"]


async def test_find_by_name_gives_the_newest_of_that_name(
        workflows: WorkflowRepository) -> None:
    await workflows.create("ws", definition("twin"), "alice")
    newer = await workflows.create("ws", definition("twin"), "bob")
    found = await workflows.find_by_name("ws", "twin")
    assert found is not None
    assert found.id == newer.id
    assert await workflows.find_by_name("ws", "nobody") is None
    assert await workflows.find_by_name("elsewhere", "twin") is None
