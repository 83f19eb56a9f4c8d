"""Server-side request forgery guard: refuse loopback, private, link-local and reserved addresses.

Two layers, both used by flows/sources/http.py:
- ``is_public_address`` / ``resolve_host``: the client checks every hop before requesting it, so a
  refusal is reported as ``blocked_private_address`` with the address;
- ``GuardedTransport``: an httpx transport whose connections resolve, check and then connect to
  the checked address itself, so a DNS answer that changes between the check and the connection
  (DNS rebinding) cannot reach a private address either.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpcore
import httpx

#: Never reachable, whatever is allowed: link-local (cloud metadata lives at 169.254.169.254 and
#: fd00:ec2::254), multicast, broadcast and "this network" / unspecified addresses, plus the
#: metadata addresses some clouds put elsewhere (Alibaba 100.100.100.200).
NEVER_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "169.254.0.0/16", "fe80::/10", "224.0.0.0/4", "ff00::/8", "0.0.0.0/8", "::/128",
    "255.255.255.255/32", "fd00:ec2::254/128", "100.100.100.200/32",
))
#: Host names of cloud metadata services (refused before any lookup).
METADATA_HOSTS = frozenset({
    "metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal",
    "metadata.azure.com", "metadata.packet.net",
})
#: What `allow_private_hosts` opens: loopback, RFC 1918/4193 private ranges and shared address space.
PRIVATE_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "100.64.0.0/10",
))


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses fetching may connect to: public ones, plus exactly what the user allowed.

    - never: link-local, metadata, multicast, broadcast, unspecified (NEVER_NETWORKS, METADATA_HOSTS);
    - allow_private: loopback and private ranges (PRIVATE_NETWORKS), for tests and intranets;
    - hosts: these host names (exact, case-insensitive) may resolve to non-public addresses;
    - networks: these ranges (CIDR) are allowed.
    """

    allow_private: bool = False
    hosts: frozenset[str] = frozenset()
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(default_factory=tuple)

    @classmethod
    def build(cls, allow_private: bool = False, hosts: Iterable[str] = (), networks: Iterable[str] = ()) -> "AddressPolicy":
        """From settings: host names and CIDR strings (a bad CIDR raises ValueError naming it)."""
        nets = []
        for text in networks:
            try:
                nets.append(ipaddress.ip_network(text.strip(), strict=False))
            except ValueError:
                raise ValueError(f"allow_networks: {text!r} is not a network in CIDR notation (e.g. 10.0.0.0/8)") from None
        return cls(bool(allow_private), frozenset(h.strip().lower().rstrip(".") for h in hosts if h.strip()), tuple(nets))

    def refusal(self, host: str, address: str) -> str | None:
        """Why connecting to `address` (resolved from `host`) is refused, or None when it is allowed."""
        name = host.lower().rstrip(".")
        if name in METADATA_HOSTS:
            return f"{host} is a cloud metadata service"
        ip = _ip(address)
        if ip is None:
            return f"{address} is not an IP address"
        if any(ip in net for net in NEVER_NETWORKS if net.version == ip.version):
            return f"{host} -> {address}: link-local, metadata, multicast or unspecified addresses are never fetched"
        if is_public_address(address):  # looked up at call time: tests can stand a local server in
            return None
        if name in self.hosts:
            return None
        if any(ip in net for net in self.networks if net.version == ip.version):
            return None
        if self.allow_private and any(ip in net for net in PRIVATE_NETWORKS if net.version == ip.version):
            return None
        return f"{host} -> {address}"


def is_public_address(address: str) -> bool:
    """True when an IP address is globally routable (not loopback/private/link-local/...)."""
    ip = _ip(address)
    return ip is not None and ip.is_global and not ip.is_multicast


async def resolve_host(host: str, port: int) -> list[str]:
    """Resolve a host name to its IP addresses (IP literals are returned as they are)."""
    try:
        ipaddress.ip_address(host)
        return [host]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


class BlockedAddressError(httpcore.ConnectError):
    """Raised by the connection layer when a host resolves to a refused address."""


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolve, check, then connect to the checked address itself (no second lookup)."""

    def __init__(self, policy: AddressPolicy):
        self._inner = httpcore.AnyIOBackend()
        self._policy = policy

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        try:
            addresses = await resolve_host(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"dns: {exc}") from exc
        for address in addresses:
            reason = self._policy.refusal(host, address)
            if reason:
                raise BlockedAddressError(f"blocked: {reason}")
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        raise last or httpcore.ConnectError(f"no address for {host}")

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise httpcore.ConnectError("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx transport whose connections go through the address guard."""

    def __init__(self, *, allow_private: bool = False, policy: AddressPolicy | None = None,
                 limits: httpx.Limits | None = None):
        policy = policy or AddressPolicy(allow_private=allow_private)
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        super().__init__(trust_env=False, limits=limits)
        # httpx has no public hook for the network backend; swap in a pool built with ours.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(policy),
        )
