"""Server-side request forgery guard: refuse loopback, private, link-local and reserved addresses.

Two layers, both used by flows/http.py:
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

import httpcore
import httpx




def is_public_address(address: str) -> bool:
    """True when an IP address is globally routable (not loopback/private/link-local/...)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


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

    def __init__(self, allow_private: bool):
        self._inner = httpcore.AnyIOBackend()
        self._allow_private = allow_private

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        try:
            addresses = await resolve_host(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"dns: {exc}") from exc
        if not self._allow_private:
            bad = [a for a in addresses if not is_public_address(a)]
            if bad:
                raise BlockedAddressError(f"blocked: {host} resolves to {bad[0]}")
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

    def __init__(self, *, allow_private: bool, limits: httpx.Limits | None = None):
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        super().__init__(trust_env=False, limits=limits)
        # httpx has no public hook for the network backend; swap in a pool built with ours.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(allow_private),
        )
