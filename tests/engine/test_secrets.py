"""Env values are usable in templates but never reach the log, in any form we write."""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet

from eventstore.sqlite import SQLiteEventStore
from projections.vocabulary import EventType, RunStatus
from service.settings.engine import EngineSettings
from service.workflows import WorkflowRepository
from tests.support.engine import CountingServer, Harness, make_engine

SECRET = "tok-9f8e7d6c5b4a"


def raw_database_bytes(directory: Path) -> bytes:
    return b"".join(path.read_bytes() for path in directory.iterdir() if path.is_file())


async def test_env_values_work_in_templates_but_are_redacted_everywhere(
    harness: Harness, counting_server: CountingServer, tmp_path: Path,
) -> None:
    run_id, state = await harness.run({"name": "s", "nodes": [
        {"id": "call", "type": "http_request", "params": {
            "method": "POST", "url": f"{counting_server.base}/echo",
            "headers": {"Authorization": "Bearer {{env.TOKEN}}"},
            "body": {"key": "{{env.TOKEN}}"}}},
        {"id": "copy", "type": "transform", "after": ["call"],
         "params": {"value": {"raw": "{{env.TOKEN}}", "seen": "{{nodes.call.output.body}}"}}},
        {"id": "boom", "type": "fail", "after": ["copy"],
         "params": {"message": "bad token {{env.TOKEN}}"}}]},
        inputs={"user": "u1"}, envs={"TOKEN": SECRET})
    # The server really received the secret...
    name, headers, body = counting_server.requests[0]
    assert headers["Authorization"] == f"Bearer {SECRET}"
    assert SECRET.encode() in body
    # ...but nothing the engine wrote contains it.
    assert state.status == RunStatus.FAILED
    events = await harness.events(run_id)
    created = events[0][1]
    assert created["envNames"] == ["TOKEN"]
    assert SECRET not in str(created)
    for _, data in events:
        assert SECRET not in str(data)
    copy = next(d for t, d in events if t == EventType.NODE_COMPLETED and d["nodeId"] == "copy")
    assert copy["output"]["raw"] == "***"
    assert state.error == "node boom failed: bad token ***"
    await harness.store.close()
    assert SECRET.encode() not in raw_database_bytes(tmp_path)


async def test_with_a_secrets_key_env_values_survive_a_restart_encrypted(
    store: SQLiteEventStore, repo: WorkflowRepository, counting_server: CountingServer,
    tmp_path: Path,
) -> None:
    settings = EngineSettings(http_allow_hosts=("127.0.0.1",),
                              secrets_key=Fernet.generate_key().decode())
    engine = make_engine(store, repo, settings)
    await engine.start()
    harness = Harness(store, repo, engine)
    run_id = await harness.start({"name": "s", "nodes": [
        {"id": "wait", "type": "delay", "params": {"ms": 200}},
        {"id": "call", "type": "http_request", "after": ["wait"], "params": {
            "url": f"{counting_server.base}/later", "headers": {"X-Key": "{{env.KEY}}"}}}]},
        envs={"KEY": SECRET})
    await harness.wait_for_event(run_id, EventType.NODE_STARTED, "wait")
    await engine.stop()
    assert SECRET.encode() not in raw_database_bytes(tmp_path)
    again = make_engine(store, repo, settings)
    await again.start()
    try:
        assert await again.wait(run_id) == RunStatus.COMPLETED
        assert counting_server.requests[-1][1]["X-Key"] == SECRET
        assert await store.fetch_all("SELECT * FROM run_secrets") == []
    finally:
        await again.stop()


async def test_without_a_key_a_run_that_needs_env_fails_after_a_restart(
    store: SQLiteEventStore, repo: WorkflowRepository,
) -> None:
    engine = make_engine(store, repo)
    await engine.start()
    harness = Harness(store, repo, engine)
    run_id = await harness.start({"name": "s", "nodes": [
        {"id": "wait", "type": "delay", "params": {"ms": 200}}]}, envs={"KEY": SECRET})
    await harness.wait_for_event(run_id, EventType.NODE_STARTED, "wait")
    await engine.stop()
    again = make_engine(store, repo)
    await again.start()
    try:
        assert await again.wait(run_id) == RunStatus.FAILED
        assert "env values were lost" in (await again.run_state(run_id)).error
    finally:
        await again.stop()
