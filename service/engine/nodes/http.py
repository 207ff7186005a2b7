"""`http_request`: one HTTP request through the engine's guarded client, redirects by hand.

Every hop's URL is checked against the address policy before it is requested (see
`service.engine.http_client`), so a redirect cannot lead to a private address.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import aiohttp
import orjson
from pydantic import AfterValidator, Field, WithJsonSchema
from yarl import URL

from service.engine.http_client import HttpClient, TargetRefused
from service.engine.node_api import NodeContext, NodeError, NodeType
from service.engine.params import ParamsModel

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
REDIRECTS = (301, 302, 303, 307, 308)


def _method(value: str) -> str:
    if value.upper() not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}")
    return value


class HttpRequestParams(ParamsModel):
    method: Annotated[str, AfterValidator(_method), WithJsonSchema({
        "type": "string", "description": f"One of {', '.join(METHODS)} (any case).",
        "default": "GET"})] = "GET"
    url: Annotated[str, Field(min_length=1, description=(
        "http or https; every address that is not global (private, loopback, link-local, "
        "carrier-grade NAT, ...) is refused unless allow-listed (http_allow_hosts)."))]
    headers: dict[str, Any] = Field(default_factory=dict)
    body: Any = Field(None, description="Sent as JSON when an object or a list, else as text.")
    timeoutMs: Annotated[int, Field(gt=0)] | None = None


IDEMPOTENCY_HEADER = "Idempotency-Key"


class HttpRequest(NodeType):
    """params: method, url, headers, body (JSON for objects/lists), timeoutMs.

    Output {status, headers, body, url}; the body is parsed when it is JSON. A 5xx
    answer fails the attempt (so it is retried); other statuses are output as they are.
    """

    params_model = HttpRequestParams

    async def run(self, params: dict[str, Any], inputs: dict[str, Any], ctx: NodeContext) -> Any:
        client = ctx.http
        settings = client.settings
        timeout_ms = params.get("timeoutMs") or settings.http_timeout_ms
        try:
            async with asyncio.timeout(timeout_ms / 1000):
                return await self._fetch(client, params, ctx.idempotency_key())
        except TargetRefused as exc:
            raise NodeError(str(exc), retryable=False) from None
        except TimeoutError:
            raise NodeError(f"http request timed out after {timeout_ms} ms") from None
        except aiohttp.ClientError as exc:
            raise NodeError(f"http request failed: {type(exc).__name__}: {exc}") from None

    async def _fetch(self, client: HttpClient, params: dict[str, Any],
                     idempotency_key: str) -> Any:
        method = str(params.get("method", "GET")).upper()
        try:
            url = URL(str(params.get("url", "")))
        except ValueError as exc:
            raise NodeError(f"bad url: {exc}", retryable=False) from None
        headers = {str(k): str(v) for k, v in (params.get("headers") or {}).items()}
        # A node may run twice for one attempt (a node that dies mid-request is taken up
        # again): the receiver can drop the repeat by this key. The definition's own wins.
        if not any(name.lower() == IDEMPOTENCY_HEADER.lower() for name in headers):
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        body = params.get("body")
        session = client.session()
        for _ in range(client.settings.http_max_redirects + 1):
            client.policy.check_url(url)
            kwargs: dict[str, Any] = {}
            if isinstance(body, dict | list):
                kwargs["data"] = orjson.dumps(body)
                headers.setdefault("Content-Type", "application/json")
            elif body is not None:
                kwargs["data"] = str(body).encode()
            async with session.request(method, url, headers=headers, allow_redirects=False,
                                       **kwargs) as resp:
                location = resp.headers.get("Location")
                if resp.status in REDIRECTS and location:
                    target = resp.url.join(URL(location))
                    if target.origin() != url.origin():
                        headers.pop("Authorization", None)
                        headers.pop("Cookie", None)
                    if resp.status == 303 or (resp.status in (301, 302) and method == "POST"):
                        method, body = "GET", None
                        headers.pop("Content-Type", None)
                    url = target
                    continue
                raw = await _read_capped(resp, client.settings.http_max_response_bytes)
                if resp.status >= 500:
                    raise NodeError(f"http {resp.status} from {url.host}")
                return {"status": resp.status, "headers": {str(k): v for k, v in resp.headers.items()},
                        "body": _decode(resp, raw), "url": str(resp.url)}
        raise NodeError(f"more than {client.settings.http_max_redirects} redirects",
                        retryable=False)


async def _read_capped(resp: aiohttp.ClientResponse, cap: int) -> bytes:
    if resp.content_length is not None and resp.content_length > cap:
        raise NodeError(f"response of {resp.content_length} bytes exceeds the {cap}-byte cap",
                        retryable=False)
    chunks, size = [], 0
    async for chunk in resp.content.iter_chunked(65536):
        size += len(chunk)
        if size > cap:
            raise NodeError(f"response exceeds the {cap}-byte cap", retryable=False)
        chunks.append(chunk)
    return b"".join(chunks)


def _decode(resp: aiohttp.ClientResponse, raw: bytes) -> Any:
    if not raw:
        return None
    if "json" in resp.content_type:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return raw.decode(resp.charset or "utf-8", errors="replace")
