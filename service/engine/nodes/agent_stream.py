"""Reading one streamed Chat Completions answer: reasoning apart from the answer, tool
calls kept apart, usage, and the batching that keeps the events per answer few.

Servers disagree on where reasoning goes: `delta.reasoning_content` (DeepSeek, vLLM),
`delta.reasoning` (Ollama, OpenRouter), or `<think>...</think>` inside the content
(llama.cpp and Qwen models served raw), where a tag may be cut across two chunks.
Parallel tool calls are told apart by `index`, or by `id` where a server sends every
call at index 0. Usage comes in a chunk of its own whose `choices` is `[]` or null.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson

OPEN_TAG, CLOSE_TAG = "<think>", "</think>"
# A batch of streamed text is written once it is this old or this long.
BATCH_SECONDS = 0.1
BATCH_CHARS = 400


class StreamBroken(Exception):
    """The answer's stream ended or broke before its end (`[DONE]` or a finish reason)."""


class ThinkSplitter:
    """Splits content into answer and `<think>` text, with tags cut anywhere."""

    def __init__(self) -> None:
        self.inside = False
        self._held = ""

    def feed(self, text: str) -> list[tuple[bool, str]]:
        """(is_thinking, text) pieces of what can be told apart so far."""
        buffer, pieces = self._held + text, []
        while True:
            tag = CLOSE_TAG if self.inside else OPEN_TAG
            found = buffer.find(tag)
            if found >= 0:
                pieces.append((self.inside, buffer[:found]))
                buffer = buffer[found + len(tag):]
                self.inside = not self.inside
                continue
            # Hold back an end that may be the start of the tag, cut by the chunking.
            keep = next((k for k in range(min(len(tag) - 1, len(buffer)), 0, -1)
                         if tag.startswith(buffer[-k:])), 0)
            pieces.append((self.inside, buffer[:len(buffer) - keep]))
            self._held = buffer[len(buffer) - keep:]
            return [(thinking, piece) for thinking, piece in pieces if piece]

    def flush(self) -> list[tuple[bool, str]]:
        held, self._held = self._held, ""
        return [(self.inside, held)] if held else []


class Batcher:
    """Collects streamed text; says when a batch is due (old or long enough)."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.since = 0.0

    def add(self, text: str) -> bool:
        if not self.parts:
            self.since = time.monotonic()
        self.parts.append(text)
        self.size += len(text)
        return self.size >= BATCH_CHARS or time.monotonic() - self.since >= BATCH_SECONDS

    def take(self) -> str:
        text, self.parts, self.size = "".join(self.parts), [], 0
        return text


@dataclass
class ToolCall:
    id: str
    name: str = ""
    arguments: str = ""

    def as_message(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function",
                "function": {"name": self.name, "arguments": self.arguments}}


@dataclass
class Answer:
    """One model call's answer, as it accumulates."""

    text: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    model: str | None = None
    usage: dict[str, Any] | None = None
    streamed: bool = False  # whether any delta arrived (a retry would repeat it)
    done: bool = False
    first_token_at: float | None = None  # time.monotonic() of the first delta
    ttft_ms: int | None = None
    duration_ms: int = 0

    def message(self) -> dict[str, Any]:
        """The assistant message that goes back to the model in the next round."""
        message: dict[str, Any] = {"role": "assistant", "content": self.text or None}
        if self.tool_calls:
            message["tool_calls"] = [call.as_message() for call in self.tool_calls]
        return message


class ToolCallAssembler:
    """Tool call fragments into whole calls, by index, or by id at a shared index."""

    def __init__(self, answer: Answer, call_id_prefix: str) -> None:
        self.answer = answer
        self.prefix = call_id_prefix
        self.at_index: dict[int, ToolCall] = {}

    def add(self, fragment: dict[str, Any]) -> None:
        index = fragment.get("index")
        index = index if isinstance(index, int) else len(self.at_index)
        call_id = fragment.get("id")
        function = fragment.get("function") or {}
        current = self.at_index.get(index)
        if current is None or (call_id and call_id != current.id):
            # A server that sends none gets one made up, stably: the same answer
            # replayed after a restart names its calls the same way.
            made_up = f"{self.prefix}-{len(self.answer.tool_calls)}"
            current = ToolCall(str(call_id or made_up))
            self.at_index[index] = current
            self.answer.tool_calls.append(current)
        if function.get("name"):
            current.name += str(function["name"])
        if function.get("arguments"):
            current.arguments += str(function["arguments"])


async def sse_data(lines: AsyncIterable[bytes]) -> AsyncIterator[str]:
    """The `data:` of each server-sent event (lines of one event joined)."""
    data: list[str] = []
    async for raw in lines:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if data:
                yield "\n".join(data)
                data = []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        yield "\n".join(data)


Sink = Any  # an object with `async thinking(text)` and `async answer(text)`


async def read_answer(lines: AsyncIterable[bytes], answer: Answer, sink: Sink,
                      call_id_prefix: str) -> None:
    """Fold a streamed answer into `answer`, sending text to `sink` in batches."""
    splitter, tools = ThinkSplitter(), ToolCallAssembler(answer, call_id_prefix)
    thinking, text = Batcher(), Batcher()

    async def emit(is_thinking: bool, piece: str) -> None:
        if answer.first_token_at is None:
            answer.first_token_at = time.monotonic()
        if is_thinking:
            answer.reasoning += piece
            if thinking.add(piece):
                await sink.thinking(thinking.take())
        else:
            answer.text += piece
            if text.add(piece):
                await sink.answer(text.take())

    async for data in sse_data(lines):
        if data.strip() == "[DONE]":
            answer.done = True
            break
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise StreamBroken(f"the server sent a chunk that is not JSON: {data[:200]!r}") \
                from None
        if not isinstance(chunk, dict):
            continue
        if chunk.get("error"):
            raise StreamBroken(f"the server reported an error mid-answer: {chunk['error']}")
        answer.model = chunk.get("model") or answer.model
        if isinstance(chunk.get("usage"), dict):
            answer.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                answer.streamed = True
                await emit(True, reasoning)
            content = delta.get("content")
            if isinstance(content, str) and content:
                answer.streamed = True
                for is_thinking, piece in splitter.feed(content):
                    await emit(is_thinking, piece)
            for fragment in delta.get("tool_calls") or ():
                answer.streamed = True
                tools.add(fragment)
            if choice.get("finish_reason"):
                answer.finish_reason = choice["finish_reason"]
    for is_thinking, piece in splitter.flush():
        await emit(is_thinking, piece)
    if thinking.parts:
        await sink.thinking(thinking.take())
    if text.parts:
        await sink.answer(text.take())
    if not answer.done and answer.finish_reason is None:
        raise StreamBroken("the answer's stream ended before it was finished")
