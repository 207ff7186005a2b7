"""The log's vocabulary is declared once (projections/vocabulary.py, projections/payloads.py)
and the engine keeps to it: real workflows run through the app write every event type, each
with exactly the keys its payload type declares."""

from __future__ import annotations

import re
import runpy
import sys
import uuid
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient
from pydantic import TypeAdapter

from projections.payloads import (
    NODE_EVENT_TYPES,
    PAYLOAD_TYPES,
    NodeFailedPayload,
    NodeFields,
    RunFailedPayload,
    as_payload,
    node_fields,
    payload_keys,
)
from projections.vocabulary import EventType
from service import limits
from service.app import create_app
from service.auth.roles import ROLE_NAMES
from service.dialects import v1
from service.engine.registry import default_registry
from service.outcomes import CancelOutcome, ResumeOutcome
from service.views.console_vocabulary import console_vocabulary
from tests.support.api import create_workflow, wait_for_status
from tests.support.auth import ADMIN_PASSWORD, create_user, login, make_settings

# A node type that thinks, answers, reports progress and records a checkpoint (no built-in
# does all of it without a model server), loaded the way
# every plugin is: through the `runstream.nodes` entry points.
PLUGIN = '''
from service.engine import NodeError, NodeType


class Ponder(NodeType):
    async def run(self, params, inputs, ctx):
        await ctx.thinking("weighing it")
        await ctx.answer_delta("it is fine")
        await ctx.progress(50, "half way")
        await ctx.checkpoint({"weighed": True})
        if params.get("fail"):
            raise NodeError("could not decide")
        return {"ok": True}
'''

EVERYTHING = {
    "name": "Every step",
    "nodes": [
        {"id": "think", "type": "ponder", "params": {}},
        {"id": "check", "type": "condition", "after": ["think"],
         "params": {"left": "{{nodes.think.output.ok}}", "op": "eq", "right": True}},
        {"id": "ask", "type": "approval", "after": [{"node": "check", "branch": True}],
         "params": {"prompt": "ship it?"}},
        {"id": "never", "type": "noop", "after": [{"node": "check", "branch": False}]},
        {"id": "done", "type": "noop", "after": ["ask"]},
        {"id": "child", "type": "subworkflow", "after": ["think"],
         "params": {"workflow": "Child"}},
    ],
}
CHILD = {"name": "Child", "nodes": [{"id": "echo", "type": "transform", "params": {"value": 1}}]}
RETRY_THEN_FAIL = {
    "name": "Retry then fail",
    "nodes": [{"id": "boom", "type": "ponder", "params": {"fail": True},
               "retry": {"maxAttempts": 2, "backoffMs": 10}}],
}
WAIT = {
    "name": "Wait forever",
    "nodes": [{"id": "ask", "type": "approval", "params": {"prompt": "ok?"}}],
}


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    site = tmp_path / "site"
    dist = site / "ponder_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (site / "ponder_plugin.py").write_text(PLUGIN)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ponder-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[runstream.nodes]\nponder = ponder_plugin:Ponder\n")
    monkeypatch.syspath_prepend(str(site))
    # Plugins are loaded once per process: let this app load them again, and the next
    # test's app load them without this one.
    default_registry.cache_clear()
    yield
    default_registry.cache_clear()
    sys.modules.pop("ponder_plugin", None)


@pytest.fixture
async def admin(plugin: None, tmp_path: Path, aiohttp_client: Any) -> TestClient:
    client: TestClient = await aiohttp_client(create_app(make_settings(tmp_path / "data")))
    await login(client, "admin", ADMIN_PASSWORD)
    return client


async def _start(client: TestClient, workflow_id: str) -> str:
    resp = await client.post("/api/v1/workflow-runs/execute/stream",
                             json={"workflowId": workflow_id})
    assert resp.status == 200, await resp.text()
    run_id = resp.headers["X-Workflow-Run-Id"]
    resp.close()  # the run continues (onDisconnect=continue)
    return run_id


async def _run_every_kind_of_workflow(admin: TestClient) -> list[dict[str, Any]]:
    """Runs that complete (with a skip and an approval), fail after a retry, and are
    cancelled; returns the whole log as the raw-events endpoint shows it."""
    await create_workflow(admin, CHILD)  # a child run: RunCreated with its parent's ids
    everything = await _start(admin, await create_workflow(admin, EVERYTHING))
    await wait_for_status(admin, everything, "waiting")
    resp = await admin.post(f"/api/v1/workflow-runs/{everything}/nodes/ask/resume",
                            json={"data": {"note": "fine"}})
    assert resp.status == 200, await resp.text()
    await wait_for_status(admin, everything, "completed")

    failing = await _start(admin, await create_workflow(admin, RETRY_THEN_FAIL))
    await wait_for_status(admin, failing, "failed")

    waiting = await _start(admin, await create_workflow(admin, WAIT))
    await wait_for_status(admin, waiting, "waiting")
    resp = await admin.post("/api/v1/workflow-runs/cancel",
                            json={"runIds": [waiting], "reason": "enough"})
    assert (await resp.json())["data"]["results"][0]["status"] == "cancelled"
    await wait_for_status(admin, waiting, "cancelled")

    resp = await admin.get("/api/v1/events", params={"limit": "1000"})
    assert resp.status == 200
    events: list[dict[str, Any]] = (await resp.json())["data"]
    return events


def test_every_event_type_has_one_payload_type() -> None:
    assert set(PAYLOAD_TYPES) == set(EventType)
    assert {t for t in EventType if t.startswith("Node")} == NODE_EVENT_TYPES


async def test_the_engine_writes_every_event_type_with_exactly_its_declared_keys(
    admin: TestClient,
) -> None:
    events = await _run_every_kind_of_workflow(admin)
    # EventsPruned is retention's (tests/retention checks its keys), not the engine's.
    assert {e["type"] for e in events} == set(EventType) - {EventType.EVENTS_PRUNED}
    for event in events:
        kind = PAYLOAD_TYPES[EventType(event["type"])]
        assert set(event["data"]) == payload_keys(kind), event
        TypeAdapter(kind).validate_python(event["data"], strict=True)  # and each value its type
    retried = [e["data"]["willRetry"] for e in events if e["type"] == EventType.NODE_FAILED]
    assert retried == [True, False]
    parents = [e["data"]["parentNodeId"] for e in events if e["type"] == EventType.RUN_CREATED]
    assert parents.count("child") == 1


def test_an_event_is_read_only_as_a_type_it_carries() -> None:
    failed = {"nodeId": "a", "nodeName": "A", "nodeType": "fail", "attempt": 1,
              "error": "x", "willRetry": False}
    assert as_payload(NodeFailedPayload, EventType.NODE_FAILED, failed)["willRetry"] is False
    assert as_payload(NodeFields, EventType.NODE_FAILED, failed)["nodeId"] == "a"
    assert node_fields(EventType.NODE_FAILED, failed) == failed
    assert node_fields(EventType.RUN_FAILED, {"error": "x"}) is None
    with pytest.raises(TypeError):
        as_payload(NodeFailedPayload, EventType.NODE_COMPLETED, failed)
    with pytest.raises(TypeError):
        as_payload(RunFailedPayload, EventType.NODE_FAILED, failed)
    with pytest.raises(TypeError):
        as_payload(NodeFields, "SomethingElse", failed)


# -- the console's copy ------------------------------------------------------------------

CONSOLE = Path(str(files("service").joinpath("console")))
EXPORT = re.compile(r"^export const ([A-Z_]+) = Object\.freeze\((.*)\);$", re.M)


async def _served_vocabulary(client: TestClient) -> str:
    page = await (await client.get("/")).text()
    version = re.search(r"/console/([0-9a-f]+)/app\.js", page)
    assert version is not None, page
    resp = await client.get(f"/console/{version.group(1)}/vocabulary.js")
    assert resp.status == 200
    assert resp.content_type == "text/javascript"
    return await resp.text()


async def test_the_console_vocabulary_is_the_python_one(admin: TestClient) -> None:
    served = dict((name, orjson.loads(value))
                  for name, value in EXPORT.findall(await _served_vocabulary(admin)))
    assert served == console_vocabulary()
    # Spot checks against the modules that own the words, not the generator.
    assert served["RUN_STATUSES"] == list(v1.RUN_STATUS_WORDS.values())
    assert set(served["CANCEL_OUTCOME"].values()) == set(CancelOutcome)
    assert list(served["ROLE_RANK"]) == list(ROLE_NAMES)
    assert not (CONSOLE / "vocabulary.js").exists()  # generated, never a file to go stale


def test_console_modules_take_their_words_from_vocabulary_js() -> None:
    exported = set(console_vocabulary())
    words = {*(str(w) for w in v1.RUN_STATUS_WORDS.values()), *v1.NODE_STATUS_WORDS.values(),
             *ROLE_NAMES, *CancelOutcome, *ResumeOutcome, *EventType}
    words.discard(CancelOutcome.ERROR)  # also a CSS class and an EventSource event
    for path in sorted(CONSOLE.glob("*.js")):
        source = path.read_text()
        for names in re.findall(r"import \{([^}]*)\} from '\./vocabulary\.js'", source):
            assert {n.strip() for n in names.split(",")} <= exported, path.name
        spelled = {w for w in words if re.search(rf"['\"`]{w}['\"`]", source)}
        assert not spelled, f"{path.name} spells {sorted(spelled)} by hand"


# -- outcomes and roles ------------------------------------------------------------------


async def test_cancel_answers_only_declared_outcomes(admin: TestClient) -> None:
    finished = await _start(admin, await create_workflow(admin, RETRY_THEN_FAIL))
    await wait_for_status(admin, finished, "failed")
    waiting = await _start(admin, await create_workflow(admin, WAIT))
    await wait_for_status(admin, waiting, "waiting")
    missing = str(uuid.uuid4())
    outcomes = []
    for _ in range(2):  # the second cancel of the same run is not eligible any more
        resp = await admin.post("/api/v1/workflow-runs/cancel",
                                json={"runIds": [waiting, finished, missing]})
        outcomes.append([r["status"] for r in (await resp.json())["data"]["results"]])
    assert outcomes == [
        [CancelOutcome.CANCELLED, CancelOutcome.ALREADY_COMPLETED, CancelOutcome.NOT_FOUND],
        [CancelOutcome.NOT_ELIGIBLE, CancelOutcome.ALREADY_COMPLETED, CancelOutcome.NOT_FOUND],
    ]


async def test_members_take_exactly_the_declared_roles(admin: TestClient) -> None:
    resp = await admin.post("/api/v1/workspaces", json={"name": "roles"})
    workspace = (await resp.json())["data"]["id"]
    user = await create_user(admin, "member-1")
    for word in ROLE_NAMES:
        resp = await admin.post(f"/api/v1/workspaces/{workspace}/members",
                                json={"userId": user["id"], "role": word})
        assert resp.status in (200, 201), await resp.text()
        assert (await resp.json())["data"]["role"] == word
    resp = await admin.post(f"/api/v1/workspaces/{workspace}/members",
                            json={"userId": user["id"], "role": "owner"})
    assert resp.status == 400


# -- the docs ----------------------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_docs_vocabulary_page_is_made_from_the_modules() -> None:
    maker = runpy.run_path(str(DOCS / "make_vocabulary.py"))
    expected = maker["render"]()
    assert (DOCS / "vocabulary.md").read_text() == expected, (
        "docs/vocabulary.md is stale: run .venv/bin/python docs/make_vocabulary.py")
    # Every limit in service/limits.py has its sentence (and so its row).
    declared = {name for name in vars(limits) if name.isupper()}
    assert {name for name, _, _ in maker["limit_docs"]()} == declared
