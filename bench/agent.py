"""The agent node against a local OpenAI-compatible server.

Unpaced, in process: 2,000 tokens of reasoning and 500 of answer per call as fast as the
server writes them: events written per model call, CPU per 1,000 tokens (the whole
process: engine, store, projections, and the fake server), and the node's overhead per
call beside a bare aiohttp request reading the same stream from the same server.

Paced, against a real `runstream serve`: the fake server (in this process) streams 5,000
tokens/s in all, reasoning then answer, to 100 agent nodes running at once (50 tokens/s
each), ten waves of 100; the served process's CPU per 1,000 tokens (from /proc, so the
fake server is not in it), the events written per model call, and its RSS after each wave
(flat once caches are warm: the growth over the second half of the waves)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from pathlib import Path

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
from tests.support.large_payloads import rss_bytes
from tests.support.server_process import Api, ServerProcess, admin_token, create_workflow

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


PACED_TOKENS_PER_S = 5000
CONCURRENT = 100
WAVES = 10
PACED_REASONING, PACED_ANSWER = 200, 100
MB = 1_000_000


def paced_reply() -> Reply:
    """One call at the fleet's share of the server's rate (50 tokens/s for 100 nodes)."""
    reply = Reply([*text(*[f"r{i} " for i in range(PACED_REASONING)],
                         field_name="reasoning_content"),
                   *text(*[f"a{i} " for i in range(PACED_ANSWER)]), chunk(finish="stop"),
                   usage(50, PACED_REASONING + PACED_ANSWER, reasoning=PACED_REASONING)])
    reply.interval_s = CONCURRENT / PACED_TOKENS_PER_S
    return reply


def cpu_s(pid: int) -> float:
    """User plus system CPU of a process so far, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def paced_fleet() -> None:
    llm = FakeLLM()
    await llm.start()
    llm.script(*[paced_reply() for _ in range(CONCURRENT * WAVES)])
    try:
        with scratch_dir("bench-agent-fleet") as directory:
            server = ServerProcess(directory / "data",
                                   engine__http_allow_hosts="127.0.0.1",
                                   engine__max_concurrent_runs=CONCURRENT)
            await server.start()
            try:
                assert server.proc is not None
                pid = server.proc.pid
                api = Api(server.base, await admin_token(server.base))
                api.http._timeout = aiohttp.ClientTimeout(total=300)  # noqa: SLF001
                try:
                    workflow = await create_workflow(api, {"name": "agent", "nodes": [
                        {"id": "a", "type": "agent", "params": {
                            "endpoint": llm.endpoint, "model": MODEL, "prompt": "go"}}]})
                    rss = [rss_bytes(pid)]
                    cpu_before, started = cpu_s(pid), time.perf_counter()
                    for _ in range(WAVES):
                        answers = await asyncio.gather(*[
                            api.request("POST", "/api/v1/workflow-runs/execute",
                                        json={"workflowId": workflow})
                            for _ in range(CONCURRENT)])
                        assert all(status == 200 for status, _ in answers), answers[:1]
                        rss.append(rss_bytes(pid))
                    cpu, wall = cpu_s(pid) - cpu_before, time.perf_counter() - started
                finally:
                    await api.close()
            finally:
                await server.stop()
            with sqlite3.connect(directory / "data" / "runstream.db") as db:
                (events,) = db.execute(
                    "SELECT count(*) FROM events WHERE stream IN "
                    "(SELECT stream FROM events WHERE type = 'RunCreated')").fetchone()
    finally:
        await llm.stop()
    calls = CONCURRENT * WAVES
    tokens = (PACED_REASONING + PACED_ANSWER) * calls
    note(f"paced: {CONCURRENT} agent nodes at once, the fake server streaming "
         f"{PACED_TOKENS_PER_S} tokens/s in all; {WAVES} waves of {CONCURRENT} calls of "
         f"{PACED_REASONING} reasoning + {PACED_ANSWER} answer tokens, {wall:.1f} s; "
         "the served process's CPU only")
    report("agent_paced_tokens_per_s", tokens / wall, "tokens/s")
    report("agent_paced_events_per_model_call", events / calls, "events")
    report("agent_paced_server_cpu_per_1000_tokens", cpu * 1000 / tokens * 1000, "ms")
    note("RSS before and after each wave (MB): " + ", ".join(f"{r / MB:.0f}" for r in rss))
    # The first waves fill caches (SQLite's pages, the live ring, the allocator's arenas);
    # flat means the second half of the waves adds next to nothing.
    half = WAVES // 2
    report("agent_paced_rss_after_first_half_mb", rss[half] / MB, "MB")
    report("agent_paced_rss_growth_second_half_mb", (rss[-1] - rss[half]) / MB, "MB")


async def main() -> None:
    await unpaced()
    await paced_fleet()


async def unpaced() -> None:
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
