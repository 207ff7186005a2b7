"""`http_request`: an aiohttp client that refuses private, loopback and link-local targets.

Names are checked after DNS resolution, inside the connector's resolver, so the
address that is checked is the address that is connected to (no rebinding gap);
literal addresses are checked before each request; redirects are followed by hand
so every hop is checked again. Hosts or networks in `http_allow_hosts` are let through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Annotated, Any

import aiohttp
import orjson
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from pydantic import AfterValidator, Field, WithJsonSchema
from yarl import URL

from service.engine.context import NodeContext
from service.engine.params import ParamsModel
from service.engine.registry import NodeError, NodeType
from service.engine.settings import EngineSettings

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
REDIRECTS = (301, 302, 303, 307, 308)
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(NodeError):
    """The URL points at an address the service may not reach."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


def _forbidden(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
            or ip.is_reserved or ip.is_unspecified)


class AddressPolicy:
    """Which targets http_request may reach."""

    def __init__(self, allow: Iterable[str]) -> None:
        self.names: set[str] = set()
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in allow:
            entry = entry.strip().lower()
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.names.add(entry.rstrip("."))

    def name_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.names

    def check_ip(self, address: str, host: str) -> None:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not _forbidden(ip) or any(ip in net for net in self.networks):
            return
        raise TargetRefused(f"refused: {host} resolves to a non-public address ({ip})")

    def check_url(self, url: URL) -> None:
        if url.scheme not in ("http", "https") or not url.host:
            raise TargetRefused(f"refused: only http and https URLs with a host ({url})")
        host = url.host.strip("[]")
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return  # a name: checked after resolution by GuardedResolver
        if not self.name_allowed(host):
            self.check_ip(host, host)


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp's default, then refuses names that lead to non-public addresses."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if not self.policy.name_allowed(host):
            for result in results:
                self.policy.check_ip(result["host"], host)
        return results

    async def close(self) -> None:
        await self._inner.close()


class HttpClient:
    """The engine's one client session (created on first use, closed by Engine.stop)."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self.policy = AddressPolicy(settings.http_allow_hosts)
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(resolver=GuardedResolver(self.policy), limit=100)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _method(value: str) -> str:
    if value.upper() not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}")
    return value


class HttpRequestParams(ParamsModel):
    method: Annotated[str, AfterValidator(_method), WithJsonSchema({
        "type": "string", "description": f"One of {', '.join(METHODS)} (any case).",
        "default": "GET"})] = "GET"
    url: Annotated[str, Field(min_length=1, description=(
        "http or https; private, loopback and link-local addresses are refused unless "
        "allow-listed (http_allow_hosts)."))]
    headers: dict[str, Any] = Field(default_factory=dict)
    body: Any = Field(None, description="Sent as JSON when an object or a list, else as text.")
    timeoutMs: Annotated[int, Field(gt=0)] | None = None


class HttpRequest(NodeType):
    """params: method, url, headers, body (JSON for objects/lists), timeoutMs.

    Output {status, headers, body, url}; the body is parsed when it is JSON. A 5xx
    answer fails the attempt (so it is retried); other statuses are output as they are.
    """

    params_model = HttpRequestParams

    async def run(self, params: dict[str, Any], inputs: dict[str, Any], ctx: NodeContext) -> Any:
        client: HttpClient = ctx.engine.http
        settings = client.settings
        timeout_ms = params.get("timeoutMs") or settings.http_timeout_ms
        try:
            async with asyncio.timeout(timeout_ms / 1000):
                return await self._fetch(client, params)
        except TimeoutError:
            raise NodeError(f"http request timed out after {timeout_ms} ms") from None
        except aiohttp.ClientError as exc:
            raise NodeError(f"http request failed: {type(exc).__name__}: {exc}") from None

    async def _fetch(self, client: HttpClient, params: dict[str, Any]) -> Any:
        method = str(params.get("method", "GET")).upper()
        try:
            url = URL(str(params.get("url", "")))
        except ValueError as exc:
            raise NodeError(f"bad url: {exc}", retryable=False) from None
        headers = {str(k): str(v) for k, v in (params.get("headers") or {}).items()}
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
