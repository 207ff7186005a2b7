"""Named model endpoints: `[llm_endpoints.NAME]` in the configuration, used by an agent
node as `"endpoint": "NAME"`, with its key from the runstream process's environment."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from eventstore.sqlite import SQLiteEventStore
from projections.vocabulary import RunStatus
from service.settings import SettingsError, load_settings
from service.settings.engine import EngineSettings
from service.workflows import WorkflowRepository
from tests.support.engine import Harness, make_engine
from tests.support.fake_llm import MODEL, FakeLLM, Reply, chunk, text, usage

KEY_VARIABLE = "LLM_ENDPOINT_TEST_KEY"
KEY = "sk-named-endpoint-4242"


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLM]:
    server = FakeLLM()
    await server.start()
    yield server
    await server.stop()


def definition(endpoint: str, **params: Any) -> dict[str, Any]:
    return {"name": "named", "nodes": [{
        "id": "ask", "type": "agent", "name": "Ask",
        "params": {"endpoint": endpoint, "model": MODEL, "prompt": "hello", **params}}]}


def settings_with(tmp_path: Path, toml: str, allow_loopback: bool = True) -> EngineSettings:
    config = tmp_path / "runstream.toml"
    config.write_text(toml + ("\n[engine]\nhttp_allow_hosts = [\"127.0.0.1\"]\n"
                              if allow_loopback else ""))
    return load_settings(config_file=config, environ={}).engine


async def run_with(store: SQLiteEventStore, repo: WorkflowRepository,
                   settings: EngineSettings, workflow: dict[str, Any]) -> Any:
    engine = make_engine(store, repo, settings)
    await engine.start()
    try:
        run_id = await Harness(store, repo, engine).start(workflow)
        await asyncio.wait_for(engine.wait(run_id), 10)
        return run_id, await engine.run_state(run_id)
    finally:
        await engine.stop()


async def test_a_named_endpoint_is_called_with_the_key_from_the_environment(
    store: SQLiteEventStore, repo: WorkflowRepository, llm: FakeLLM, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, KEY)
    settings = settings_with(tmp_path, f'[llm_endpoints.local]\nurl = "{llm.endpoint}"\n'
                                       f'api_key_env = "{KEY_VARIABLE}"\n')
    llm.script(Reply([*text("hi there"), chunk(finish="stop"), usage(3, 2)]))
    run_id, state = await run_with(store, repo, settings, definition("local"))
    assert state.status == RunStatus.COMPLETED, state.error
    assert state.output["ask"]["text"] == "hi there"
    assert llm.requests[0][1]["Authorization"] == f"Bearer {KEY}"
    for event in await store.read(run_id, 0, 1000):
        assert KEY not in str(event.payload)


async def test_the_nodes_own_api_key_wins_over_the_endpoints(
    store: SQLiteEventStore, repo: WorkflowRepository, llm: FakeLLM, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(KEY_VARIABLE, KEY)
    settings = settings_with(tmp_path, f'[llm_endpoints.local]\nurl = "{llm.endpoint}"\n'
                                       f'api_key_env = "{KEY_VARIABLE}"\n')
    llm.script(Reply([*text("ok"), chunk(finish="stop")]))
    _, state = await run_with(store, repo, settings, definition("local", apiKey="sk-own"))
    assert state.status == RunStatus.COMPLETED, state.error
    assert llm.requests[0][1]["Authorization"] == "Bearer sk-own"


async def test_an_unknown_endpoint_name_fails_the_node_without_retrying(
    store: SQLiteEventStore, repo: WorkflowRepository, llm: FakeLLM, tmp_path: Path,
) -> None:
    settings = settings_with(tmp_path, f'[llm_endpoints.local]\nurl = "{llm.endpoint}"\n')
    workflow = definition("elsewhere")
    workflow["nodes"][0]["retry"] = {"maxAttempts": 3, "backoffMs": 1}
    _, state = await run_with(store, repo, settings, workflow)
    assert state.status == RunStatus.FAILED
    assert "no model endpoint named 'elsewhere'" in state.error
    assert state.nodes["ask"].attempt == 1
    assert llm.requests == []


async def test_a_named_endpoint_obeys_the_address_rules(
    store: SQLiteEventStore, repo: WorkflowRepository, llm: FakeLLM, tmp_path: Path,
) -> None:
    """Loopback, not in http_allow_hosts: refused before any connection is opened."""
    settings = settings_with(tmp_path, f'[llm_endpoints.local]\nurl = "{llm.endpoint}"\n',
                             allow_loopback=False)
    _, state = await run_with(store, repo, settings, definition("local"))
    assert state.status == RunStatus.FAILED
    assert "127.0.0.1" in state.error
    assert llm.requests == []


@pytest.mark.parametrize(("toml", "problem"), [
    ('[llm_endpoints.local]\nurl = "ftp://models.example/v1"\n', "not an http(s) URL"),
    ('[llm_endpoints.local]\nurl = "https://models.example/v1"\napi_key_env = "A-B"\n',
     "not an environment variable name"),
    ('[llm_endpoints.local]\nurl = "https://models.example/v1"\nkey = "x"\n', "key"),
    ('[llm_endpoints."a b"]\nurl = "https://models.example/v1"\n', "a b"),
], ids=["scheme", "variable", "unknown-key", "name"])
def test_a_bad_endpoint_is_refused_at_start(tmp_path: Path, toml: str, problem: str) -> None:
    config = tmp_path / "runstream.toml"
    config.write_text(toml)
    with pytest.raises(SettingsError) as raised:
        load_settings(config_file=config, environ={})
    assert problem in str(raised.value)
