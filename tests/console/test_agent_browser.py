"""An agent node's live panel in a real browser (see test_browser.py for how), against a
model server that speaks OpenAI's streamed Chat Completions over a real socket: thinking
and answer text that grow while the model is still answering, the tool call it waits on with its
arguments, approved with edited arguments or rejected with a reason (the run really
resumes and the model gets the tool's answer), the tokens per node and per run, and a
viewer who sees the pending call but cannot decide it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from service.settings import Settings
from tests.support.api import create_workflow, wait_for_status
from tests.support.auth import (
    ADMIN_PASSWORD,
    USER_PASSWORD,
    create_member,
    make_settings,
)
from tests.support.browser import open_console, start_in_background
from tests.support.fake_llm import MODEL, FakeLLM, Reply, chunk, text, tool_call, usage

# Each longer than one batch of streamed text, so it is written before the model goes on.
FIRST_THOUGHT = "The ticket names a customer; I should look them up first. " * 8
SECOND_THOUGHT = "The id in the ticket is c-42."
FIRST_WORDS = "Customer c-42 is a gold customer who was charged twice for one order. " * 6
LAST_WORDS = "Route it to billing."


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # The model server listens on loopback, which the engine refuses by default.
    return make_settings(tmp_path, engine={"http_allow_hosts": ["127.0.0.1/32"]})


@pytest.fixture
async def llm() -> Any:
    server = FakeLLM()
    await server.start()
    yield server
    await server.stop()


def agent_workflow(endpoint: str) -> dict[str, Any]:
    return {"name": "Support agent", "nodes": [
        {"id": "classify", "type": "agent", "name": "Classify ticket", "params": {
            "endpoint": endpoint, "model": MODEL, "prompt": "Ticket: charged twice, customer c-42",
            "tools": [{"name": "lookup_customer", "description": "Find a customer by id",
                       "parameters": {"type": "object",
                                      "properties": {"id": {"type": "string"}}},
                       "run": {"type": "transform", "params": {
                           "value": {"customer": "{{args.id}}", "tier": "gold"}}},
                       "approval": "always"}]}}]}


def first_reply(args: str, hold_at: int | None = None) -> Reply:
    """Thinks (a whole batch, then more), then asks for the lookup."""
    return Reply(hold_at=hold_at, chunks=[chunk({"reasoning_content": FIRST_THOUGHT}),
                  chunk({"reasoning_content": SECOND_THOUGHT}),
                  tool_call(0, "call_lookup", "lookup_customer", args),
                  chunk(finish="tool_calls"), usage(30, 12, reasoning=8)])


def panel(selector: str = "") -> str:
    return f'#node-panel[data-node-id="classify"] {selector}'.strip()


async def tool_calls(api: TestClient, run_id: str) -> list[dict[str, Any]]:
    resp = await api.get(f"/api/v1/workflow-runs/{run_id}")
    body = await resp.json()
    assert resp.status == 200, body
    [activity] = body["data"]["activityRuns"]
    return list(activity["toolCalls"])


def tool_message(request: dict[str, Any]) -> dict[str, Any]:
    [message] = [m for m in request["messages"] if m["role"] == "tool"]
    return dict(message)


async def test_thinking_grows_live_and_a_tool_call_is_approved_with_edited_arguments(
    browser: Any, server: TestServer, admin_api: TestClient, llm: FakeLLM
) -> None:
    # Each reply stops after its first chunk (a thought, the answer's first words) until
    # the test releases it.
    thinking = first_reply('{"id": "c-4"}', hold_at=1)
    answer = Reply([*text(FIRST_WORDS, LAST_WORDS), chunk(finish="stop"), usage(60, 5)],
                   hold_at=1)
    llm.script(thinking, answer)
    try:
        workflow_id = await create_workflow(admin_api, agent_workflow(llm.endpoint))
        run_id = await start_in_background(admin_api, workflow_id)
        console = await open_console(browser, server)
        page = console.page
        await console.login("admin", ADMIN_PASSWORD)
        await console.go(f"/runs/{run_id}")
        await page.click('#run-graph .gnode[data-node-id="classify"]')
        # Mid-answer: the node runs and its panel shows the thinking streamed so far.
        await page.wait_for_function(
            "(t) => document.querySelector('#node-panel .thinking-text')?.textContent === t",
            arg=FIRST_THOUGHT)
        assert await page.get_attribute(panel(), "data-status") == "running"
        assert await page.locator(panel(".pending-tool-call")).count() == 0
        thinking.release.set()
        # The rest of the thought arrives, and the call waits for a person.
        await page.wait_for_selector(panel('.pending-tool-call[data-call-id="call_lookup"]'))
        assert await page.inner_text(panel(".thinking-text")) == FIRST_THOUGHT + SECOND_THOUGHT
        assert await page.inner_text(panel(".pending-tool-name")) == "lookup_customer"
        args = page.locator(panel(".tool-args"))
        assert orjson.loads(await args.input_value()) == {"id": "c-4"}
        assert [call["status"] for call in await tool_calls(admin_api, run_id)] == ["waiting_approval"]
        # Arguments that are not a JSON object cannot be approved.
        await args.fill('{"id": ')
        await page.wait_for_selector(panel(".tool-problem .error"))
        assert await page.is_disabled(panel(".approve-tool"))
        await args.fill('{"id": "c-42"}')
        assert await page.inner_text(panel(".approve-tool")) == "Approve with edited arguments"
        await page.click(panel(".approve-tool"))

        # The final answer grows in the panel while the model writes it.
        await page.wait_for_function(
            "(t) => document.querySelector('#node-panel .answer-text')?.textContent === t",
            arg=FIRST_WORDS)
        assert await page.get_attribute(panel(), "data-status") == "running"
        assert await page.text_content(panel(".answer h4")) == "Answer (so far)"
        answer.release.set()
        await console.run_status("completed")
        await page.wait_for_function(
            "(t) => document.querySelector('#node-panel .answer-text')?.textContent === t",
            arg=FIRST_WORDS + LAST_WORDS)
        # The tool ran with the edited arguments and the model got its result.
        [call] = await tool_calls(admin_api, run_id)
        assert (call["status"], call["args"], call["output"]) == (
            "completed", {"id": "c-42"}, {"customer": "c-42", "tier": "gold"})
        assert orjson.loads(tool_message(llm.requests[1][0])["content"]) == {
            "customer": "c-42", "tier": "gold"}
        await page.wait_for_selector(panel('#tool-calls tr[data-call-id="call_lookup"]'))
        cells = await page.locator(panel('#tool-calls tr[data-call-id="call_lookup"] td')).all_inner_texts()
        assert cells[:3] == ["lookup_customer", "completed", '{"id":"c-42"}'], cells
        assert await page.locator(panel(".pending-tool-call")).count() == 0
        # Tokens: both model calls, in the node's panel and summed for the run.
        for where in (panel("#panel-usage"), "#run-usage"):
            figures = [await page.get_attribute(where, f"data-{name}")
                       for name in ("prompt", "completion", "reasoning", "cached", "calls")]
            assert figures == ["90", "17", "8", "0", "2"], (where, figures)
        assert "90 prompt · 17 completion · 8 reasoning · 0 cached (2 model calls)" \
            == await page.inner_text("#run-usage")
        assert console.errors == []
    finally:  # a failed step must not leave the model server holding a reply
        thinking.release.set()
        answer.release.set()


async def test_a_rejected_tool_call_tells_the_model_why_and_a_viewer_cannot_decide(
    browser: Any, server: TestServer, admin_api: TestClient, llm: FakeLLM
) -> None:
    await create_member(admin_api, "vera", "viewer")
    llm.script(first_reply('{"id": "c-42"}'),
               Reply([*text("I may not look customers up."), chunk(finish="stop"), usage(50, 7)]))
    workflow_id = await create_workflow(admin_api, agent_workflow(llm.endpoint))
    run_id = await start_in_background(admin_api, workflow_id)
    await wait_for_status(admin_api, run_id, "waiting")

    viewer = await open_console(browser, server)
    await viewer.login("vera", USER_PASSWORD)
    await viewer.go(f"/runs/{run_id}")
    await viewer.page.click('#run-graph .gnode[data-node-id="classify"]')
    await viewer.page.wait_for_selector(panel(".pending-tool-call .pending-tool-args"))
    assert '"c-42"' in await viewer.page.inner_text(panel(".pending-tool-args"))
    assert await viewer.page.locator(".approve-tool, .reject-tool, .tool-args").count() == 0
    assert "needs the runner role" in await viewer.page.inner_text(panel(".pending-tool-call"))

    console = await open_console(browser, server)
    page = console.page
    await console.login("admin", ADMIN_PASSWORD)
    await console.go(f"/runs/{run_id}")
    # The nodes table sends the runner to the panel, where the call is decided.
    await page.click('tr.node-detail[data-node-id="classify"] .open-panel')
    await page.fill(panel(".tool-reason"), "customer data needs a ticket owner")
    await page.click(panel(".reject-tool"))
    await console.run_status("completed")

    [call] = await tool_calls(admin_api, run_id)
    assert (call["status"], call["error"]) == ("rejected", "customer data needs a ticket owner")
    told = tool_message(llm.requests[1][0])["content"]
    assert "rejected" in told, told
    assert "customer data needs a ticket owner" in told, told
    cells = await page.locator(panel('#tool-calls tr[data-call-id="call_lookup"] td')).all_inner_texts()
    assert cells[:2] == ["lookup_customer", "rejected"], cells
    # The viewer's page followed it live.
    await viewer.run_status("completed")
    await viewer.page.wait_for_selector(panel('#tool-calls tr[data-call-id="call_lookup"]'))
    assert await viewer.page.locator(panel(".pending-tool-call")).count() == 0
    assert console.errors == []
    assert viewer.errors == []
