"""The agent node against a local OpenAI-compatible server streaming 2,000 tokens of
reasoning and 500 of answer per call: events written per model call, CPU per 1,000
tokens (the whole service process: engine, store, projections), and the node's overhead
per call beside a bare aiohttp request reading the same stream from the same server."""

from __future__ import annotations

import time

import aiohttp
import orjson

from bench.common import note, report, scratch_dir
from eventstore.sqlite import SQLiteEventStore
from projections import all_projections
from projections.vocabulary import RunStatus
from service.engine.engine import Engine
from service.settings.engine import EngineSettings
from service.workflows import WorkflowRepository
from tests.support.fake_llm import MODEL, FakeLLM, Reply, chunk, text, usage

REASONING_TOKENS = 2000
ANSWER_TOKENS = 500
CALLS = 20


def reply() -> Reply:
    return Reply([*text(*[f"r{i} " for i in range(REASONING_TOKENS)],
                        field_name="reasoning_content"),
                  *text(*[f"a{i} " for i in range(ANSWER_TOKENS)]), chunk(finish="stop"),
                  usage(50, REASONING_TOKENS + ANSWER_TOKENS, reasoning=REASONING_TOKENS)])


async def bare_request_s(llm: FakeLLM) -> float:
    llm.script(reply())
    started = time.perf_counter()
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{llm.endpoint}/chat/completions",
                             data=orjson.dumps({"model": MODEL, "stream": True})) as resp:
            async for _ in resp.content:
                pass
    return time.perf_counter() - started


async def main() -> None:
    llm = FakeLLM()
    await llm.start()
    try:
        with scratch_dir("bench-agent") as directory:
            store = await SQLiteEventStore.open(directory / "runstream.db", all_projections(),
                                                synchronous="FULL")
            repo = WorkflowRepository(store)
            await repo.ensure_schema()
            engine = Engine(store, repo, EngineSettings(http_allow_hosts=("127.0.0.1",)))
            await engine.start()
            try:
                workflow = await repo.create("default", {"name": "agent", "nodes": [
                    {"id": "a", "type": "agent", "params": {
                        "endpoint": llm.endpoint, "model": MODEL, "prompt": "go"}}]}, "bench")
                events = 0
                cpu = wall = bare = 0.0
                for _ in range(CALLS):
                    bare += await bare_request_s(llm)
                    llm.script(reply())
                    cpu_before, started = time.process_time(), time.perf_counter()
                    run_id = await engine.start_run(workflow.id, "default", {}, {}, "bench")
                    assert await engine.wait(run_id) == RunStatus.COMPLETED
                    wall += time.perf_counter() - started
                    cpu += time.process_time() - cpu_before
                    events += len(await store.read(run_id, 0, 100_000))
            finally:
                await engine.stop()
                await store.close()
    finally:
        await llm.stop()
    tokens = (REASONING_TOKENS + ANSWER_TOKENS) * CALLS
    note(f"{CALLS} calls of {REASONING_TOKENS} reasoning + {ANSWER_TOKENS} answer tokens, "
         "synchronous=FULL; the fake server runs in this process, so CPU includes it")
    report("agent_events_per_model_call", events / CALLS, "events")
    report("agent_cpu_per_1000_tokens", cpu * 1000 / tokens * 1000, "ms")
    report("agent_overhead_per_call_beside_bare_request", (wall - bare) * 1000 / CALLS, "ms")
