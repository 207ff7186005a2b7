"""The engine's HTTP client: refuses every target address that is not global unicast.

Names are checked after DNS resolution, inside the connector's resolver, so the
address that is checked is the address that is connected to (no rebinding gap);
literal addresses are checked before each request (`AddressPolicy.check_url`, called
by `http_request` on every hop, as it follows redirects by hand). Hosts or networks
in `http_allow_hosts` are let through.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from service.settings.engine import EngineSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(Exception):
    """The URL points at an address the service may not reach (never worth retrying)."""


# NAT64 prefixes: the well-known one carries an IPv4 address in its last 32 bits, which a
# NAT64 gateway then reaches (10.0.0.1 as 64:ff9b::a00:1); the local-use one is the
# operator's own network.
NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _forbidden(ip: IPAddress) -> bool:
    """Whether an address is anything but a global unicast one.

    `is_global` is false for every special-purpose range of the IANA registries:
    private, loopback, link-local, carrier-grade NAT (100.64.0.0/10, where a provider's
    other customers or its own hosts answer), benchmarking, documentation, reserved, and
    the IPv6 equivalents. Multicast is refused as well, global or not.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in NAT64_LOCAL_USE:
            return True
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return _forbidden(embedded)
    return not ip.is_global or ip.is_multicast or ip.is_unspecified


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
        raise TargetRefused(f"refused: {host} resolves to a non-global address ({ip})")

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
    """Resolves like aiohttp's default, then refuses names that lead to non-global addresses."""

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self._inner = inner or ThreadedResolver()

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

    def __init__(self, settings: EngineSettings,
                 resolver: Callable[[], AbstractResolver] | None = None) -> None:
        self.settings = settings
        self.policy = AddressPolicy(settings.http_allow_hosts)
        # What answers DNS questions before the policy sees the addresses (the system's
        # resolver; a test gives one whose names lead where it wants, loopback only).
        self._resolver = resolver or ThreadedResolver
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            resolver = GuardedResolver(self.policy, self._resolver())
            connector = aiohttp.TCPConnector(resolver=resolver, limit=100)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
