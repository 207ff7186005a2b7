"""One model call to an OpenAI-compatible Chat Completions endpoint, streamed, with the
retries a call may make before anything of its answer has arrived.

Plain aiohttp through the engine's guarded session rather than the `openai` package:
the address rules of `http_request` then hold for the connection itself (every address
a name resolves to is checked before connecting, see service/engine/http_client.py),
where the SDK's own HTTP stack would resolve and connect on its own; the retry rules
below (no retry once deltas were streamed, never on `insufficient_quota`) are ours
rather than the SDK's; and chunks some servers send that the SDK's models do not
describe (`choices: null`, `reasoning`) are read as they come.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from yarl import URL

from service.engine.http_client import HttpClient, TargetRefused
from service.engine.node_api import NodeError
from service.engine.nodes.agent_stream import Answer, Sink, StreamBroken, read_answer

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_TRIES = 4
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 8.0
RETRY_AFTER_MAX_S = 60.0
ERROR_BODY_CHARS = 300


@dataclass(frozen=True, slots=True)
class ModelCall:
    url: URL
    api_key: str | None
    body: dict[str, Any]


def completions_url(endpoint: str) -> URL:
    """`{endpoint}/chat/completions` (an endpoint given with the path is kept as it is)."""
    url = URL(endpoint.rstrip("/"))
    return url if url.path.endswith("/chat/completions") else url / "chat" / "completions"


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After")
    try:
        return min(max(float(value), 0.0), RETRY_AFTER_MAX_S) if value else None
    except ValueError:
        return None


def _error_code(body: bytes) -> str:
    try:
        error = orjson.loads(body).get("error") or {}
    except (orjson.JSONDecodeError, AttributeError):
        return ""
    return str(error.get("code") or error.get("type") or "") if isinstance(error, dict) else ""


async def stream_call(http: HttpClient, call: ModelCall, sink: Sink, call_id_prefix: str,
                      sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> Answer:
    """The model's answer; raises NodeError when the call cannot give one."""
    headers = {"Accept": "text/event-stream", "Content-Type": "application/json"}
    if call.api_key:
        headers["Authorization"] = f"Bearer {call.api_key}"
    try:
        http.policy.check_url(call.url)
    except TargetRefused as exc:
        raise NodeError(str(exc), retryable=False) from None
    delay = BACKOFF_FIRST_S
    for tries in range(1, MAX_TRIES + 1):
        answer = Answer()
        started = time.monotonic()
        wait: float | None = None
        try:
            async with http.session().post(call.url, data=orjson.dumps(call.body),
                                           headers=headers, allow_redirects=False) as resp:
                if resp.status >= 400:
                    body = await resp.content.read(64 * 1024)
                    code = _error_code(body)
                    problem = (f"the model endpoint answered {resp.status}"
                               + (f" ({code})" if code else "")
                               + f": {body[:ERROR_BODY_CHARS].decode('utf-8', 'replace')}")
                    if call.api_key:
                        # Servers quote a bad key back; a key given in the definition is
                        # no run secret, so the run's redaction would not catch it.
                        problem = problem.replace(call.api_key, "***")
                    if code == "insufficient_quota" or resp.status not in RETRY_STATUSES:
                        raise NodeError(problem, retryable=False)
                    if tries == MAX_TRIES:
                        raise NodeError(problem)
                    wait = _retry_after(resp.headers)
                else:
                    await read_answer(resp.content, answer, sink, call_id_prefix)
                    answer.duration_ms = int((time.monotonic() - started) * 1000)
                    if answer.first_token_at is not None:
                        answer.ttft_ms = int((answer.first_token_at - started) * 1000)
                    return answer
        except TargetRefused as exc:
            raise NodeError(str(exc), retryable=False) from None
        except (TimeoutError, aiohttp.ClientError, StreamBroken) as exc:
            message = f"the model call broke: {type(exc).__name__}: {exc}"
            if answer.streamed or tries == MAX_TRIES:
                # Deltas were streamed: a retry here would show them twice. The node's
                # retry policy decides whether the attempt runs again.
                raise NodeError(message) from None
        await sleep(wait if wait is not None else delay)
        delay = min(delay * 2, BACKOFF_MAX_S)
    raise NodeError("the model call failed")  # not reached: the last try raises
