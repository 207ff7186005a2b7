"""`agent`: a language model behind any OpenAI-compatible Chat Completions endpoint, with
tools that run as node types.

Each round streams one model call (service/engine/nodes/agent_client.py): reasoning
reaches clients as NodeThinking events and answer text as NodeAnswerDelta events while
the model answers, in batches (service/engine/nodes/agent_stream.py). A reply with tool calls is a tool round whatever
its finish reason says: each call runs the node type its tool names with `{{args.x}}`
from the call's arguments, the results go back to the model, up to `maxToolRounds`.
The output carries the answer, the tool calls, and the usage of every call and their sum.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any, Literal

import orjson
from pydantic import Field, model_validator
from yarl import URL

from service.engine.node_api import NodeContext, NodeError, NodeType
from service.engine.nodes.agent_client import ModelCall, completions_url, stream_call
from service.engine.nodes.agent_stream import Answer, ToolCall
from service.engine.params import ParamsModel, templated

CHARS_PER_TOKEN = 4  # for estimates, when a server reports no usage
MAX_TOOL_RESULT_CHARS = 16384
# Text waiting while a batch commits joins the next batch up to this size.
MAX_MERGED_DELTA_CHARS = 16384
USAGE_FIELDS = ("promptTokens", "completionTokens", "reasoningTokens", "cachedTokens")


class ToolRun(ParamsModel):
    type: str = Field(description="The node type that runs the tool (http_request, ...).")
    params: dict[str, Any] = Field(default_factory=dict, description=(
        "That type's params; `{{args.x}}` reads the model's arguments."))


class AgentTool(ParamsModel):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"},
                                       description="The JSON Schema of the arguments.")
    run: ToolRun
    approval: Literal["never", "always"] = Field("never", description=(
        "`never`: the call runs as the model asks; `always`: it waits for a person to "
        "approve (maybe with edited arguments) or reject it, through "
        "POST /api/v1/workflow-runs/{runId}/nodes/{nodeId}/tool-calls/{callId}."))


class Message(ParamsModel):
    role: Literal["system", "user", "assistant", "tool"]
    content: str


class AgentParams(ParamsModel):
    endpoint: Annotated[str, Field(min_length=1, description=(
        "The server's base URL (`.../v1`), or the name of an endpoint of the deployment's "
        "[llm_endpoints]; the address rules of http_request apply either way."))]
    model: Annotated[str, Field(min_length=1)]
    apiKey: str | None = Field(None, description=(
        "Sent as a Bearer token; use {{secrets.NAME}}. Never recorded."))
    system: str | None = None
    prompt: str | None = None
    messages: list[Message] | None = Field(None, description="Instead of `prompt`.")
    temperature: templated(float | int) | None = None  # type: ignore[valid-type]
    maxTokens: templated(Annotated[int, Field(gt=0)]) | None = None  # type: ignore[valid-type]
    output: Literal["text", "json"] = "text"
    tools: list[AgentTool] = Field(default_factory=list)
    maxToolRounds: Annotated[int, Field(ge=0, le=50)] = 5
    extraBody: dict[str, Any] = Field(default_factory=dict, description=(
        "Passed through in the request body (e.g. reasoning_effort)."))

    @model_validator(mode="after")
    def prompt_or_messages(self) -> AgentParams:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of prompt or messages")
        return self


class _Sink:
    """Where a call's streamed text goes: reasoning as NodeThinking events, answer text as
    NodeAnswerDelta events of model call number `call`.

    A sender task records the batches while the model's stream is read on: under
    synchronous=FULL each commit is an fsync, and a node waiting on every batch paid it
    once per batch. Text that arrives while a batch commits joins the next one (same kind
    only, so thinking and answer stay in their order), so a slow disk means fewer, larger
    events rather than a slower reader.
    """

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self.call = 0
        self._queue: list[tuple[bool, int, str]] = []  # (is thinking, call, text)
        self._ready = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None

    async def thinking(self, text: str) -> None:
        self._put(True, text)

    async def answer(self, text: str) -> None:
        self._put(False, text)

    def _put(self, is_thinking: bool, text: str) -> None:
        if self._sender is not None and self._sender.done():
            self._sender.result()  # a refused report fails the call now
        last = self._queue[-1] if self._queue else None
        if (last is not None and last[0] == is_thinking and last[1] == self.call
                and len(last[2]) < MAX_MERGED_DELTA_CHARS):
            self._queue[-1] = (is_thinking, self.call, last[2] + text)
        else:
            self._queue.append((is_thinking, self.call, text))
        self._ready.set()
        if self._sender is None:
            self._sender = asyncio.ensure_future(self._send())

    async def _send(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._queue:
                is_thinking, call, text = self._queue.pop(0)
                if is_thinking:
                    await self.ctx.thinking(text)
                else:
                    await self.ctx.answer_delta(text, call)
            if self._closing:
                return

    _closing = False

    async def settled(self) -> None:
        """Every batch put is durable (before the node records anything else)."""
        if self._sender is None:
            return
        self._closing = True
        self._ready.set()
        sender, self._sender = self._sender, None
        try:
            await sender
        finally:
            self._closing = False

    def abandon(self) -> None:
        """Stop sending: what was not recorded yet is dropped with the attempt."""
        if self._sender is not None:
            self._sender.cancel()
            self._sender = None
        self._queue.clear()


def _usage(answer: Answer, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """One call's figures: the server's, or estimated from the text (and saying so)."""
    usage = answer.usage
    figures: dict[str, Any] = {"model": answer.model, "timeToFirstTokenMs": answer.ttft_ms,
                               "durationMs": answer.duration_ms}
    if usage:
        completion_details = usage.get("completion_tokens_details") or {}
        prompt_details = usage.get("prompt_tokens_details") or {}
        return {**figures, "estimated": False,
                "promptTokens": int(usage.get("prompt_tokens") or 0),
                "completionTokens": int(usage.get("completion_tokens") or 0),
                "reasoningTokens": int(completion_details.get("reasoning_tokens") or 0),
                "cachedTokens": int(prompt_details.get("cached_tokens") or 0)}
    produced = len(answer.text) + len(answer.reasoning) + sum(
        len(call.name) + len(call.arguments) for call in answer.tool_calls)
    return {**figures, "estimated": True,
            "promptTokens": -(-len(orjson.dumps(messages)) // CHARS_PER_TOKEN),
            "completionTokens": -(-produced // CHARS_PER_TOKEN),
            "reasoningTokens": -(-len(answer.reasoning) // CHARS_PER_TOKEN),
            "cachedTokens": 0}


def _total(calls: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {name: sum(call[name] for call in calls) for name in USAGE_FIELDS}
    total["estimated"] = any(call["estimated"] for call in calls)
    total["calls"] = len(calls)
    return total


def _tool_spec(tool: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", "function": {
        "name": tool["name"], "description": tool.get("description", ""),
        "parameters": tool.get("parameters") or {"type": "object"}}}


class _Conversation:
    """The messages so far, with each model call's figures and each tool call's record."""

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self.messages = messages
        self.calls: list[dict[str, Any]] = []
        self.tool_calls: list[dict[str, Any]] = []

    @property
    def rounds(self) -> int:
        """Model calls answered with tool calls so far."""
        return len(self.calls)

    def answered(self, message: dict[str, Any], figures: dict[str, Any]) -> None:
        self.messages.append(message)
        self.calls.append(figures)

    def tool_result(self, call_id: str, record: dict[str, Any]) -> None:
        self.messages.append({"role": "tool", "tool_call_id": call_id,
                              "content": record.get("content", "")})
        self.tool_calls.append({k: v for k, v in record.items() if k != "content"})


def _calls_of(message: dict[str, Any]) -> list[ToolCall]:
    return [ToolCall(str(call.get("id")), str(call["function"].get("name") or ""),
                     str(call["function"].get("arguments") or ""))
            for call in message.get("tool_calls") or ()]


def _endpoint(params: dict[str, Any], ctx: NodeContext) -> tuple[URL, str | None]:
    """The completions URL and API key: of the URL given, or of the named endpoint (whose
    key comes from the runstream process's environment unless the node gives its own)."""
    endpoint, api_key = str(params["endpoint"]), params.get("apiKey") or None
    if "://" in endpoint:
        return completions_url(endpoint), api_key
    named = ctx.llm_endpoint(endpoint)
    if named is None:
        raise NodeError(f"no model endpoint named {endpoint!r}: give a URL, or add "
                        f"[llm_endpoints.{endpoint}] to the configuration", retryable=False)
    return completions_url(named.url), api_key or named.api_key()


class Agent(NodeType):
    """params: endpoint, model, apiKey, system, prompt or messages, temperature, maxTokens,
    output (text or json), tools, maxToolRounds, extraBody.

    Output {text, data, model, finishReason, usage, calls, toolCalls}.
    """

    params_model = AgentParams
    secret_params = frozenset({"apiKey"})

    async def run(self, params: dict[str, Any], inputs: dict[str, Any], ctx: NodeContext) -> Any:
        tools = {tool["name"]: tool for tool in params.get("tools") or ()}
        messages: list[dict[str, Any]] = []
        if params.get("system"):
            messages.append({"role": "system", "content": str(params["system"])})
        if params.get("messages") is not None:
            messages += [{"role": m["role"], "content": m["content"]} for m in params["messages"]]
        else:
            messages.append({"role": "user", "content": str(params.get("prompt") or "")})
        url, api_key = _endpoint(params, ctx)
        conversation = _Conversation(messages)
        max_rounds = int(params.get("maxToolRounds", 5))
        # Continue from what earlier attempts made durable: their tool rounds are not
        # asked of the model again, and their finished tool calls do not run again.
        checkpoints = ctx.checkpoints
        finished = {step["id"]: step["record"] for step in checkpoints
                    if isinstance(step, dict) and step.get("kind") == "tool"}
        for step in checkpoints:
            if isinstance(step, dict) and step.get("kind") == "answer":
                conversation.answered(step["message"], step["usage"])
                await self._tool_round(tools, _calls_of(step["message"]), conversation, ctx,
                                       finished)
        sink = _Sink(ctx)
        for round_ in range(conversation.rounds, max_rounds + 1):
            body = self._body(params, conversation.messages,
                              tools if round_ < max_rounds else {})
            sink.call = round_
            try:
                answer = await stream_call(ctx.http, ModelCall(url, api_key, body), sink,
                                           f"call-{ctx.node_id}-{round_}")
            except asyncio.CancelledError:
                sink.abandon()  # the run is ending: its driver may take no more reports
                raise
            except Exception:
                await sink.settled()
                raise
            await sink.settled()
            figures = _usage(answer, conversation.messages)
            if not answer.tool_calls:
                conversation.answered(answer.message(), figures)
                return self._output(params, answer, conversation)
            await ctx.checkpoint({"kind": "answer", "message": answer.message(),
                                  "usage": figures})
            conversation.answered(answer.message(), figures)
            await self._tool_round(tools, answer.tool_calls, conversation, ctx, finished)
        raise NodeError(f"the model still called tools after {max_rounds} rounds",
                        retryable=False)

    def _body(self, params: dict[str, Any], messages: list[dict[str, Any]],
              tools: dict[str, dict[str, Any]]) -> dict[str, Any]:
        body: dict[str, Any] = {**(params.get("extraBody") or {}),
                                "model": params["model"], "messages": messages,
                                "stream": True, "stream_options": {"include_usage": True}}
        if params.get("temperature") is not None:
            body["temperature"] = params["temperature"]
        if params.get("maxTokens") is not None:
            body["max_tokens"] = params["maxTokens"]
        if params.get("output") == "json":
            body.setdefault("response_format", {"type": "json_object"})
        if tools:
            body["tools"] = [_tool_spec(tool) for tool in tools.values()]
        return body

    async def _tool_round(self, tools: dict[str, dict[str, Any]], calls: list[ToolCall],
                          conversation: _Conversation, ctx: NodeContext,
                          finished: dict[str, dict[str, Any]]) -> None:
        """Run a reply's tool calls (those not finished before) and answer each."""
        decisions = {step["id"]: step for step in ctx.checkpoints
                     if isinstance(step, dict) and step.get("kind") == "decision"}
        for call in calls:
            record = finished.get(call.id)
            if record is None:
                record = await self._settle(tools, call, ctx, decisions.get(call.id))
                await ctx.checkpoint({"kind": "tool", "id": call.id, "record": record})
            conversation.tool_result(call.id, record)

    async def _settle(self, tools: dict[str, dict[str, Any]], call: ToolCall,
                      ctx: NodeContext, decision: dict[str, Any] | None) -> dict[str, Any]:
        """One call's record, with `content`: what goes back to the model."""
        record: dict[str, Any] = {"id": call.id, "name": call.name, "args": None}
        try:
            args = orjson.loads(call.arguments) if call.arguments.strip() else {}
        except orjson.JSONDecodeError:
            args = None
        if not isinstance(args, dict):
            error = f"the arguments are not a JSON object: {call.arguments[:200]!r}"
            return {**record, "status": "failed", "error": error, "content": error}
        record["args"] = args
        tool = tools.get(call.name)
        if tool is None:
            error = f"no tool named {call.name!r}"
            return {**record, "status": "failed", "error": error, "content": error}
        if tool.get("approval") == "always":
            if decision is None:
                decision = await self._ask(call, args, ctx)
            record["decision"] = {k: decision.get(k) for k in ("decision", "by", "reason")}
            if decision["decision"] != "approve":
                reason = decision.get("reason") or "no reason given"
                return {**record, "status": "rejected", "error": reason, "content": (
                    f"A person rejected this call of {call.name}: {reason}")}
            if isinstance(decision.get("args"), dict):
                args = record["args"] = decision["args"]
        run = tool["run"]
        started = time.monotonic()
        try:
            output = await ctx.run_node_type(str(run["type"]), run.get("params") or {}, args,
                                            scope=call.id)
        except NodeError as exc:
            record["durationMs"] = int((time.monotonic() - started) * 1000)
            return {**record, "status": "failed", "error": exc.message, "content": exc.message}
        record["durationMs"] = int((time.monotonic() - started) * 1000)
        content = orjson.dumps(output).decode()[:MAX_TOOL_RESULT_CHARS]
        return {**record, "status": "completed", "output": output, "content": content}

    async def _ask(self, call: ToolCall, args: dict[str, Any],
                   ctx: NodeContext) -> dict[str, Any]:
        """Wait for a person's decision on a call (recorded before the call runs)."""
        answer = await ctx.wait_for_resume(
            {"toolCall": {"id": call.id, "name": call.name, "args": args}})
        raw = answer.get("data")
        data: dict[str, Any] = raw if isinstance(raw, dict) else {}
        decision = data.get("decision") or ("approve" if answer.get("approved") else "reject")
        step = {"kind": "decision", "id": call.id, "decision": decision,
                "args": data.get("args"), "reason": data.get("reason"), "by": answer.get("by")}
        await ctx.checkpoint(step)
        return step

    def _output(self, params: dict[str, Any], answer: Answer,
                conversation: _Conversation) -> dict[str, Any]:
        data = None
        if params.get("output") == "json":
            try:
                data = orjson.loads(answer.text)
            except orjson.JSONDecodeError:
                raise NodeError(f"the answer is not JSON: {answer.text[:200]!r}") from None
        return {"text": answer.text, "data": data, "model": answer.model,
                "finishReason": answer.finish_reason, "usage": _total(conversation.calls),
                "calls": conversation.calls, "toolCalls": conversation.tool_calls}
