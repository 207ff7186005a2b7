"""Custom node types through the `runstream.nodes` entry-point group."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from eventstore.sqlite import SQLiteEventStore
from projections.vocabulary import EventType, RunStatus
from service.engine.engine import Engine
from service.engine.registry import builtin_registry
from service.settings.engine import EngineSettings
from service.workflows import WorkflowInvalid, WorkflowRepository
from tests.support.engine import Harness

PLUGIN = '''
import asyncio
from service.engine import NodeError, NodeType


class Shout(NodeType):
    def check(self, params):
        return [] if "text" in params else ["shout needs params.text"]

    async def run(self, params, inputs, ctx):
        await ctx.thinking("considering " + params["text"])
        await ctx.progress(50, "half way")
        if params.get("fail"):
            raise NodeError("refused to shout")
        return {"shout": params["text"].upper(), "attempt": ctx.attempt}


class Broken:
    pass
'''

ENTRY_POINTS = """[runstream.nodes]
shout = my_plugin:Shout
broken = my_plugin:Broken
missing = my_plugin:DoesNotExist
"""


@pytest.fixture
def plugin_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    dist = site / "my_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (site / "my_plugin.py").write_text(PLUGIN)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("my_plugin", None)


async def test_a_plugin_node_runs_and_reports_progress_and_thinking(
    plugin_path: Path, store: SQLiteEventStore,
) -> None:
    registry = builtin_registry()
    registry.load_entry_points()
    assert "shout" in registry.names()
    assert "broken" not in registry.names()
    repo = WorkflowRepository(store, registry)
    await repo.ensure_schema()
    with pytest.raises(WorkflowInvalid) as caught:
        repo.validate({"name": "p", "nodes": [{"id": "s", "type": "shout", "params": {}}]})
    assert caught.value.node_ids == ["s"]
    engine = Engine(store, repo, EngineSettings(), registry=registry)
    await engine.start()
    try:
        harness = Harness(store, repo, engine)
        run_id, state = await harness.run({"name": "p", "nodes": [
            {"id": "s", "type": "shout", "params": {"text": "{{inputs.word}}"}}]},
            inputs={"word": "hey"})
        assert state.status == RunStatus.COMPLETED
        assert state.output == {"s": {"shout": "HEY", "attempt": 1}}
        events = await harness.node_events(run_id, "s")
        assert [t for t, _ in events] == [EventType.NODE_STARTED, EventType.NODE_THINKING,
                                          EventType.NODE_PROGRESS, EventType.NODE_COMPLETED]
        assert events[1][1]["text"] == "considering hey"
        assert (events[2][1]["progress"], events[2][1]["message"]) == (50, "half way")
        _, state = await harness.run({"name": "p", "nodes": [
            {"id": "s", "type": "shout", "params": {"text": "x", "fail": True},
             "retry": {"maxAttempts": 2}}]})
        assert state.status == RunStatus.FAILED
        assert state.nodes["s"].attempt == 2
    finally:
        await engine.stop()
