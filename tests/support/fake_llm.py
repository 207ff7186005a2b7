"""A local OpenAI-compatible Chat Completions server for the agent tests: real SSE over a
real socket, each request answered by the next scripted reply, every request kept."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

MODEL = "fake-model-1"


@dataclass
class Reply:
    """One answer: `chunks` streamed as SSE, or an error `status` with `body`.

    `cut_after`: the connection is dropped after that many chunks (no [DONE]).
    `hold_at`: streaming stops before that chunk until `release` is set (a test looks at
    what reached the log mid-answer). `interval_s`: the pause before each chunk (a model
    generating at a given rate).
    """

    chunks: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    cut_after: int | None = None
    hold_at: int | None = None
    release: asyncio.Event = field(default_factory=asyncio.Event)
    interval_s: float = 0.0


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None,
          **extra: Any) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": MODEL,
            "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}], **extra}


def text(*pieces: str, field_name: str = "content") -> list[dict[str, Any]]:
    return [chunk({field_name: piece}) for piece in pieces]


def usage(prompt: int, completion: int, reasoning: int = 0, cached: int = 0,
          choices: Any = ()) -> dict[str, Any]:
    """The usage chunk; `choices` is [] (OpenAI) or None (some servers)."""
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": MODEL,
            "choices": list(choices) if choices is not None else None,
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion,
                      "completion_tokens_details": {"reasoning_tokens": reasoning},
                      "prompt_tokens_details": {"cached_tokens": cached}}}


def tool_call(index: int, call_id: str | None, name: str | None,
              arguments: str) -> dict[str, Any]:
    fragment: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if call_id is not None:
        fragment.update(id=call_id, type="function")
    if name is not None:
        fragment["function"]["name"] = name
    return chunk({"tool_calls": [fragment]})


class FakeLLM:
    """The server; `replies` are used in order, `requests` holds each request's JSON body
    and headers."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.requests: list[tuple[dict[str, Any], dict[str, str]]] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((orjson.loads(await request.read()), dict(request.headers)))
        if not self.replies:
            return web.json_response({"error": {"message": "no reply scripted"}}, status=500)
        reply = self.replies.pop(0)
        if reply.status != 200:
            return web.json_response(reply.body, status=reply.status, headers=reply.headers)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for sent, data in enumerate(reply.chunks):
            if reply.cut_after is not None and sent == reply.cut_after:
                assert request.transport is not None
                request.transport.close()  # mid-answer: no [DONE], no final chunk
                return resp
            if sent == reply.hold_at:
                await reply.release.wait()
            if reply.interval_s:
                # On a schedule rather than a fixed sleep each: the rate holds on average
                # however long the writes take.
                ahead = started + sent * reply.interval_s - loop.time()
                if ahead > 0:
                    await asyncio.sleep(ahead)
            await resp.write(b"data: " + orjson.dumps(data) + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
