"""The engine's HTTP client: refuses private, loopback and link-local targets.

Names are checked after DNS resolution, inside the connector's resolver, so the
address that is checked is the address that is connected to (no rebinding gap);
literal addresses are checked before each request (`AddressPolicy.check_url`, called
by `http_request` on every hop, as it follows redirects by hand). Hosts or networks
in `http_allow_hosts` are let through.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from service.settings.engine import EngineSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(Exception):
    """The URL points at an address the service may not reach (never worth retrying)."""


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
