"""The agent node against a local OpenAI-compatible server: reasoning streamed as
NodeThinking and answer text as NodeAnswerDelta, tool calls run as node types, usage, retries and json output."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from eventstore.sqlite import SQLiteEventStore
from projections.vocabulary import EventType, RunStatus
from service.engine.nodes.agent import MAX_MERGED_DELTA_CHARS
from service.workflows import WorkflowRepository
from tests.support.engine import CountingServer, Harness, make_engine
from tests.support.fake_llm import MODEL, FakeLLM, Reply, chunk, text, tool_call, usage

KEY = "sk-agent-test-31337"


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLM]:
    server = FakeLLM()
    await server.start()
    yield server
    await server.stop()


def agent(llm: FakeLLM, retry: dict[str, Any] | None = None, **params: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"id": "classify", "type": "agent", "name": "Classify ticket",
                            "params": {"endpoint": llm.endpoint, "model": MODEL,
                                       "prompt": "Ticket: {{inputs.text}}", **params}}
    if retry is not None:
        node["retry"] = retry
    return {"name": "agent", "nodes": [node]}


async def thinking_texts(harness: Harness, run_id: str) -> list[str]:
    return [d["text"] for t, d in await harness.node_events(run_id, "classify")
            if t == EventType.NODE_THINKING]


@pytest.mark.parametrize("field_name", ["reasoning_content", "reasoning"])
async def test_reasoning_streams_as_thinking_and_stays_out_of_the_answer(
    harness: Harness, llm: FakeLLM, field_name: str,
) -> None:
    llm.script(Reply([*text("The ticket ", "mentions an invoice.", field_name=field_name),
                      *text("billing"), chunk(finish="stop"), usage(21, 7, reasoning=5)]))
    run_id, state = await harness.run(
        agent(llm, system="You classify support tickets.", temperature=0, maxTokens=512,
              extraBody={"reasoning_effort": "low"}),
        inputs={"text": "I was charged twice"})
    assert state.status == RunStatus.COMPLETED, state.error
    output = state.output["classify"]
    assert output["text"] == "billing"
    assert output["finishReason"] == "stop"
    assert output["model"] == MODEL
    assert output["toolCalls"] == []
    assert "".join(await thinking_texts(harness, run_id)) == "The ticket mentions an invoice."
    usage_total = output["usage"]
    assert (usage_total["promptTokens"], usage_total["completionTokens"],
            usage_total["reasoningTokens"], usage_total["estimated"]) == (21, 7, 5, False)
    body, _ = llm.requests[0]
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [
        {"role": "system", "content": "You classify support tickets."},
        {"role": "user", "content": "Ticket: I was charged twice"}]
    assert (body["temperature"], body["max_tokens"], body["reasoning_effort"]) == (0, 512, "low")


async def test_think_tags_cut_across_chunks_are_split_from_the_answer(
    harness: Harness, llm: FakeLLM,
) -> None:
    llm.script(Reply([*text("<th", "ink>Looks like", " a refund</th", "ink>", "ref", "und<"),
                      *text("3"), chunk(finish="stop"), usage(5, 5, choices=None)]))
    run_id, state = await harness.run(agent(llm), inputs={"text": "money back"})
    assert state.status == RunStatus.COMPLETED, state.error
    assert state.output["classify"]["text"] == "refund<3"
    assert "".join(await thinking_texts(harness, run_id)) == "Looks like a refund"
    assert state.output["classify"]["usage"]["estimated"] is False


async def test_a_long_answer_is_tens_of_events_not_thousands(
    harness: Harness, llm: FakeLLM,
) -> None:
    pieces = [f"tok{i} " for i in range(2000)]
    llm.script(Reply([*text(*pieces, field_name="reasoning_content"), *text("done"),
                      chunk(finish="stop")]))
    run_id, state = await harness.run(agent(llm), inputs={"text": "x"})
    assert state.status == RunStatus.COMPLETED, state.error
    thoughts = await thinking_texts(harness, run_id)
    assert "".join(thoughts) == "".join(pieces)
    assert len(thoughts) < 200, len(thoughts)


async def answer_deltas(harness: Harness, run_id: str) -> list[tuple[int, str]]:
    return [(d["call"], d["text"]) for t, d in await harness.node_events(run_id, "classify")
            if t == EventType.NODE_ANSWER_DELTA]


async def test_a_long_answer_streams_as_tens_of_deltas_that_make_up_the_output_text(
    harness: Harness, llm: FakeLLM,
) -> None:
    pieces = [f"word{i} " for i in range(2000)]
    llm.script(Reply([*text("<think>short</think>"), *text(*pieces), chunk(finish="stop"),
                      usage(5, 2000)]))
    run_id, state = await harness.run(agent(llm), inputs={"text": "x"})
    assert state.status == RunStatus.COMPLETED, state.error
    deltas = await answer_deltas(harness, run_id)
    assert "".join(piece for _, piece in deltas) == state.output["classify"]["text"]
    assert state.output["classify"]["text"] == "".join(pieces)
    # Batched: more than one event, far fewer than pieces; text that came while a batch
    # committed joined the next one, up to a bound.
    assert 1 < len(deltas) < 100, len(deltas)
    assert max(len(piece) for _, piece in deltas) < 2 * MAX_MERGED_DELTA_CHARS
    assert {call for call, _ in deltas} == {0}
    assert "".join(await thinking_texts(harness, run_id)) == "short"


async def test_answer_text_reaches_the_log_while_the_model_is_still_answering(
    harness: Harness, llm: FakeLLM,
) -> None:
    first = "The customer asked about an invoice that was charged twice. " * 10  # > a batch
    held = Reply([*text(first), *text("So: billing."), chunk(finish="stop")], hold_at=1)
    llm.script(held)
    run_id = await harness.start(agent(llm), inputs={"text": "x"})
    delta = await harness.wait_for_event(run_id, EventType.NODE_ANSWER_DELTA, "classify")
    assert first.startswith(delta["text"])
    assert not [t for t, _ in await harness.node_events(run_id, "classify")
                if t == EventType.NODE_COMPLETED]
    held.release.set()
    await asyncio.wait_for(harness.engine.wait(run_id), 10)
    deltas = await answer_deltas(harness, run_id)
    assert "".join(piece for _, piece in deltas) == first + "So: billing."


async def test_each_model_calls_answer_text_is_numbered_by_its_call(
    harness: Harness, llm: FakeLLM,
) -> None:
    tools = [{"name": "lookup", "run": {"type": "transform", "params": {"value": 1}}}]
    llm.script(Reply([*text("Let me look ", "that up."), tool_call(0, "call_1", "lookup", "{}"),
                      chunk(finish="tool_calls")]),
               Reply([*text("Found ", "it."), chunk(finish="stop")]))
    run_id, state = await harness.run(agent(llm, tools=tools), inputs={"text": "x"})
    assert state.status == RunStatus.COMPLETED, state.error
    by_call: dict[int, str] = {}
    for call, piece in await answer_deltas(harness, run_id):
        by_call[call] = by_call.get(call, "") + piece
    assert by_call == {0: "Let me look that up.", 1: "Found it."}
    assert state.output["classify"]["text"] == by_call[1]


async def test_without_usage_from_the_server_the_figures_are_estimated(
    harness: Harness, llm: FakeLLM,
) -> None:
    llm.script(Reply([*text("a" * 40), chunk(finish="stop")]))
    _, state = await harness.run(agent(llm), inputs={"text": "x"})
    assert state.status == RunStatus.COMPLETED, state.error
    figures = state.output["classify"]["usage"]
    assert figures["estimated"] is True
    assert figures["completionTokens"] == 10
    assert figures["promptTokens"] > 0


TOOLS = [
    {"name": "lookup_customer", "description": "Find a customer by id",
     "parameters": {"type": "object", "properties": {"id": {"type": "string"}},
                    "required": ["id"]},
     "run": {"type": "transform", "params": {"value": {"customer": "{{args.id}}",
                                                       "tier": "gold"}}}},
    {"name": "echo", "run": {"type": "http_request", "params": {
        "method": "POST", "url": "URL", "body": {"asked": "{{args.q}}"}}}},
]


def tools_for(server: CountingServer) -> list[dict[str, Any]]:
    tools = orjson.loads(orjson.dumps(TOOLS))
    tools[1]["run"]["params"]["url"] = f"{server.base}/tool"
    return list(tools)


@pytest.mark.parametrize("same_index", [False, True], ids=["by-index", "all-at-index-0"])
async def test_parallel_tool_calls_run_as_node_types_and_answer_the_model(
    harness: Harness, llm: FakeLLM, counting_server: CountingServer, same_index: bool,
) -> None:
    second = 0 if same_index else 1
    llm.script(
        Reply([tool_call(0, "call_a", "lookup_customer", '{"id": '),
               tool_call(0, None, None, '"c-42"}'),
               tool_call(second, "call_b", "echo", '{"q": "hi"}'),
               # A tool round, whatever this finish reason says.
               chunk(finish="stop"), usage(30, 12)]),
        Reply([*text("gold customer"), chunk(finish="stop"), usage(60, 3)]))
    _, state = await harness.run(agent(llm, tools=tools_for(counting_server)),
                                 inputs={"text": "who am I"})
    assert state.status == RunStatus.COMPLETED, state.error
    output = state.output["classify"]
    assert output["text"] == "gold customer"
    calls = {call["id"]: call for call in output["toolCalls"]}
    assert calls["call_a"]["args"] == {"id": "c-42"}
    assert calls["call_a"]["status"] == "completed"
    assert calls["call_a"]["output"] == {"customer": "c-42", "tier": "gold"}
    assert calls["call_b"]["output"]["status"] == 200
    assert orjson.loads(counting_server.requests[0][2]) == {"asked": "hi"}
    assert output["usage"]["promptTokens"] == 90
    assert output["usage"]["calls"] == 2
    body, _ = llm.requests[1]
    assistant, *results = body["messages"][-3:]
    assert [c["id"] for c in assistant["tool_calls"]] == ["call_a", "call_b"]
    assert [r["tool_call_id"] for r in results] == ["call_a", "call_b"]
    assert orjson.loads(results[0]["content"]) == {"customer": "c-42", "tier": "gold"}
    assert [t["function"]["name"] for t in llm.requests[0][0]["tools"]] == [
        "lookup_customer", "echo"]


async def test_a_429_with_retry_after_is_retried_within_the_attempt(
    harness: Harness, llm: FakeLLM,
) -> None:
    llm.script(Reply(status=429, body={"error": {"message": "slow down"}},
                     headers={"Retry-After": "1"}),
               Reply([*text("ok"), chunk(finish="stop")]))
    run_id, state = await harness.run(agent(llm), inputs={"text": "x"})
    assert state.status == RunStatus.COMPLETED, state.error
    assert len(llm.requests) == 2
    starts = [d for t, d in await harness.node_events(run_id, "classify")
              if t == EventType.NODE_STARTED]
    assert len(starts) == 1  # one attempt


async def test_insufficient_quota_is_never_retried(harness: Harness, llm: FakeLLM) -> None:
    llm.script(*[Reply(status=429, body={"error": {"code": "insufficient_quota",
                                                   "message": "pay up"}})] * 3)
    _, state = await harness.run(agent(llm, retry={"maxAttempts": 3, "backoffMs": 1}),
                                 inputs={"text": "x"})
    assert state.status == RunStatus.FAILED
    assert "insufficient_quota" in state.error
    assert len(llm.requests) == 1


async def test_a_stream_cut_off_after_deltas_fails_the_attempt_and_the_retry_policy_decides(
    harness: Harness, llm: FakeLLM,
) -> None:
    llm.script(Reply([*text("half an ", "answer", "never ends")], cut_after=2),
               Reply([*text("whole"), chunk(finish="stop")]))
    run_id, state = await harness.run(agent(llm, retry={"maxAttempts": 2, "backoffMs": 1}),
                                      inputs={"text": "x"})
    assert state.status == RunStatus.COMPLETED, state.error
    assert state.output["classify"]["text"] == "whole"
    assert len(llm.requests) == 2
    failed = [d for t, d in await harness.node_events(run_id, "classify")
              if t == EventType.NODE_FAILED]
    assert len(failed) == 1
    assert "broke" in failed[0]["error"]
    assert failed[0]["willRetry"]


async def test_json_output_is_parsed_and_an_answer_that_is_not_json_fails(
    harness: Harness, llm: FakeLLM,
) -> None:
    llm.script(Reply([*text('{"label": ', '"billing"}'), chunk(finish="stop")]),
               Reply([*text("billing, I think"), chunk(finish="stop")]))
    _, state = await harness.run(agent(llm, output="json"), inputs={"text": "x"})
    assert state.status == RunStatus.COMPLETED, state.error
    assert state.output["classify"]["data"] == {"label": "billing"}
    assert llm.requests[0][0]["response_format"] == {"type": "json_object"}
    _, state = await harness.run(agent(llm, output="json"), inputs={"text": "x"})
    assert state.status == RunStatus.FAILED
    assert "not JSON" in state.error


@pytest.mark.parametrize("api_key", [KEY, "{{env.LLM_KEY}}"], ids=["literal", "from-env"])
async def test_the_api_key_is_sent_and_recorded_nowhere(
    harness: Harness, llm: FakeLLM, api_key: str,
) -> None:
    llm.script(Reply(status=401, body={"error": {"message": f"bad key {KEY}"}}))
    run_id, state = await harness.run(agent(llm, apiKey=api_key), inputs={"text": "x"},
                                      envs={"LLM_KEY": KEY})
    assert llm.requests[0][1]["Authorization"] == f"Bearer {KEY}"
    assert state.status == RunStatus.FAILED
    assert "401" in state.error
    started = next(d for t, d in await harness.events(run_id) if t == EventType.NODE_STARTED)
    assert started["input"]["apiKey"] == "***"
    assert "bad key ***" in state.error  # the server quoted the key back
    for _, data in await harness.events(run_id):
        assert KEY not in str(data)


async def test_after_a_restart_the_conversation_continues_without_asking_the_model_again(
    store: SQLiteEventStore, repo: WorkflowRepository, llm: FakeLLM,
    counting_server: CountingServer,
) -> None:
    tools = [{"name": "fast", "run": {"type": "http_request", "params": {
                 "url": f"{counting_server.base}/fast"}}},
             {"name": "slow", "run": {"type": "http_request", "params": {
                 "url": f"{counting_server.base}/slow?sleep_first=30"}}}]
    llm.script(Reply([tool_call(0, "call_fast", "fast", "{}"),
                      tool_call(1, "call_slow", "slow", "{}"), chunk(finish="tool_calls"),
                      usage(10, 4)]),
               Reply([*text("both looked up"), chunk(finish="stop"), usage(40, 3)]))
    engine = make_engine(store, repo)
    await engine.start()
    run_id = await Harness(store, repo, engine).start(agent(llm, tools=tools),
                                                      inputs={"text": "x"})
    await counting_server.until(lambda hits: hits.get("slow") == 1)
    await engine.stop()  # the slow tool call is cut off, unfinished
    again = make_engine(store, repo)
    await again.start()
    try:
        assert await asyncio.wait_for(again.wait(run_id), 10) == RunStatus.COMPLETED
        state = await again.run_state(run_id)
    finally:
        await again.stop()
    output = state.output["classify"]
    assert output["text"] == "both looked up"
    # The first model call was made once; the finished tool call did not run again, the
    # unfinished one did.
    assert len(llm.requests) == 2
    assert counting_server.hits == {"fast": 1, "slow": 2}
    # Each tool call's request has a key of its own; the slow one's second attempt too.
    assert len({h["Idempotency-Key"] for _, h, _ in counting_server.requests}) == 3
    assert [c["id"] for c in output["toolCalls"]] == ["call_fast", "call_slow"]
    assert output["usage"]["promptTokens"] == 50
    assert output["usage"]["calls"] == 2
    assert [m["role"] for m in llm.requests[1][0]["messages"]] == [
        "user", "assistant", "tool", "tool"]


async def test_a_call_waiting_for_approval_survives_a_restart_without_a_second_model_call(
    store: SQLiteEventStore, repo: WorkflowRepository, llm: FakeLLM,
) -> None:
    tools = [{"name": "note", "approval": "always",
              "run": {"type": "transform", "params": {"value": {"noted": "{{args.x}}"}}}}]
    llm.script(Reply([tool_call(0, "call_1", "note", '{"x": 7}'), chunk(finish="tool_calls")]),
               Reply([*text("noted"), chunk(finish="stop")]))
    engine = make_engine(store, repo)
    await engine.start()
    harness = Harness(store, repo, engine)
    run_id = await harness.start(agent(llm, tools=tools), inputs={"text": "x"})
    waiting = await harness.wait_for_event(run_id, EventType.NODE_WAITING, "classify")
    assert waiting["prompt"] == {"toolCall": {"id": "call_1", "name": "note", "args": {"x": 7}}}
    await engine.stop()
    again = make_engine(store, repo)
    await again.start()
    try:
        assert (await again.run_state(run_id)).status == RunStatus.WAITING
        outcome = await again.resume(run_id, "classify", "person",
                                     {"callId": "call_1", "decision": "approve",
                                      "args": {"x": 8}}, True)
        assert outcome == "resumed"
        assert await asyncio.wait_for(again.wait(run_id), 10) == RunStatus.COMPLETED
        state = await again.run_state(run_id)
    finally:
        await again.stop()
    assert len(llm.requests) == 2  # the call that asked for the tool was not made again
    (call,) = state.output["classify"]["toolCalls"]
    assert call["status"] == "completed"
    assert call["output"] == {"noted": 8}
    assert call["decision"] == {"decision": "approve", "by": "person", "reason": None}
