"""The safe, polite HTTP client every fetch goes through.

Safe:
- only ``http``/``https``; redirects followed by hand (limit, loop detection, no downgrade from
  https to http, no other scheme);
- server-side request forgery guard: every hop's host is resolved and refused when any address
  is not globally routable, unless allowed by ``allow_private_hosts`` (loopback and private
  ranges), ``allow_hosts`` (names) or ``allow_networks`` (CIDR); link-local, cloud metadata,
  multicast and unspecified addresses are refused whatever is allowed (flows/sources/netguard.py,
  AddressPolicy); the same check runs again inside the connection layer
  (``GuardedTransport``) on the address actually connected to, so a DNS answer that changes
  between check and connect (rebinding) cannot slip through;
- a size cap on every response, enforced while streaming, on the *decoded* bytes (we inflate
  gzip/deflate ourselves with a bounded inflater, so a compression bomb stops at the cap);
- connect/read timeouts per socket operation and a total timeout per attempt;
- no proxies or credentials from the environment (``trust_env=False``): a proxy would bypass
  the address guard.

Polite:
- a clear User-Agent naming the project;
- robots.txt (RFC 9309, via urllib.robotparser) fetched once per origin and cached; a
  ``Crawl-delay`` raises the per-host delay (capped);
- per-host concurrency and a minimum delay between request starts to one host;
- retries with exponential backoff and jitter on 429/5xx/timeouts/connection errors, honouring
  ``Retry-After`` (seconds or HTTP date) up to a cap;
- conditional GET (``If-None-Match``/``If-Modified-Since``) for feeds.

Every failure is returned as a ``FetchResult`` with a ``reason`` (``http_404``, ``timeout``,
``too_large``, ``not_html``, ``robots_disallowed``, ``redirect_loop``, ...), never raised.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import threading
import time
import urllib.robotparser
import zlib
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, Field

from flows.sources import netguard
from flows.sources.netguard import GuardedTransport, is_public_address  # noqa: F401  (re-exported)
from transforms.pages import looks_like_html

PROJECT_URL = "https://github.com/fpwatch/fpwatch"
DEFAULT_USER_AGENT = f"fpwatch/0.1 (+{PROJECT_URL}; foreign-policy news monitoring)"

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# robots.txt: RFC 9309 asks crawlers to parse at least 500 KiB.
ROBOTS_MAX_BYTES = 512 * 1024
# Redirect hops followed while reading robots.txt (RFC 9309 section 2.3.1.2: at least five).
ROBOTS_MAX_REDIRECTS = 5
CHUNK_BYTES = 64 * 1024

Expect = Literal["html", "feed", "any"]


class FetchSettings(BaseModel):
    """How fetching behaves. Part of flows.settings.Settings, so each field is also an FPWATCH_* variable."""

    user_agent: str = DEFAULT_USER_AGENT
    # Token matched against robots.txt User-agent lines.
    robots_user_agent: str = "fpwatch"
    # What the address guard (flows/sources/netguard.py) lets through besides public addresses. Link-local,
    # cloud metadata, multicast and unspecified addresses stay refused whatever is set here.
    allow_private_hosts: bool = False  # loopback and private ranges (tests, an intranet)
    allow_hosts: list[str] = Field(default_factory=list)  # these host names, whatever they resolve to
    allow_networks: list[str] = Field(default_factory=list)  # these CIDR ranges
    respect_robots: bool = True
    # 5 MiB: the largest of the 330 evaluation pages is ~1.2 MB; news pages rarely pass 2 MB.
    max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    # Feeds and sitemaps may be bigger (a sitemap may be 50 MB uncompressed by protocol).
    max_feed_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    read_timeout_s: float = Field(default=20.0, gt=0)
    total_timeout_s: float = Field(default=60.0, gt=0)
    max_redirects: int = Field(default=5, ge=0, le=20)
    max_retries: int = Field(default=3, ge=0, le=10)
    backoff_base_s: float = Field(default=1.0, ge=0)
    backoff_max_s: float = Field(default=60.0, ge=0)
    # A Retry-After longer than this gives up on the URL for this run (it is retried next run).
    max_retry_after_s: float = Field(default=120.0, ge=0)
    per_host_concurrency: int = Field(default=2, ge=1, le=64)
    per_host_delay_s: float = Field(default=1.0, ge=0)
    max_concurrency: int = Field(default=16, ge=1, le=512)
    max_crawl_delay_s: float = Field(default=30.0, ge=0)


@dataclass
class FetchResult:
    """What one fetch produced: the body on success, a ``reason`` on failure."""

    url: str
    final_url: str | None = None
    status: int | None = None
    reason: str | None = None
    detail: str = ""
    body: bytes = b""
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    attempts: int = 0
    redirects: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the fetch succeeded (including a 304 Not Modified)."""
        return self.reason is None

    @property
    def not_modified(self) -> bool:
        """True for a 304 answer to a conditional request."""
        return self.status == 304


class _Failure(Exception):
    """A classified failure of one attempt; ``retry_after`` set when the server asked."""

    def __init__(self, reason: str, detail: str = "", *, retryable: bool = False,
                 retry_after: float | None = None, status: int | None = None):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail, self.retryable = reason, detail, retryable
        self.retry_after, self.status = retry_after, status
        self.attempts = 0


# --------------------------------------------------------------------------------------------
# Politeness


@dataclass
class HostPolicy:
    """Per-host overrides (from a source's options); None means "use the settings"."""

    delay_s: float | None = None
    concurrency: int | None = None
    respect_robots: bool | None = None


@dataclass
class CrawlMemory:
    """What outlives one client (one batch) within a run: robots.txt rules and per-host clocks."""

    robots: dict[str, urllib.robotparser.RobotFileParser | None] = field(default_factory=dict)
    next_start: dict[str, float] = field(default_factory=dict)  # host key -> time.monotonic()
    delays: dict[str, float] = field(default_factory=dict)      # host key -> delay raised by Crawl-delay


class _HostGate:
    """At most ``concurrency`` requests in flight and ``delay_s`` between request starts."""

    def __init__(self, key: str, concurrency: int, delay_s: float, memory: CrawlMemory):
        self.key = key
        self.semaphore = asyncio.Semaphore(concurrency)
        self.memory = memory
        self.delay_s = max(delay_s, memory.delays.get(key, 0.0))
        self.lock = asyncio.Lock()

    def raise_delay(self, seconds: float) -> None:
        self.delay_s = max(self.delay_s, seconds)
        self.memory.delays[self.key] = self.delay_s

    async def wait_turn(self) -> None:
        async with self.lock:
            now = time.monotonic()
            next_start = self.memory.next_start.get(self.key, 0.0)
            if next_start > now:
                await asyncio.sleep(next_start - now)
            self.memory.next_start[self.key] = time.monotonic() + self.delay_s

    def push_back(self, seconds: float) -> None:
        self.memory.next_start[self.key] = max(self.memory.next_start.get(self.key, 0.0),
                                               time.monotonic() + seconds)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def _host_key(url: str) -> str:
    parts = urlsplit(url)
    return f"{(parts.hostname or '').lower()}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


# --------------------------------------------------------------------------------------------
# Bounded body reading


class _Inflater:
    """Content-Encoding decoder that never produces more than ``limit`` bytes."""

    def __init__(self, encoding: str, limit: int):
        encoding = encoding.strip().lower()
        if encoding in ("", "identity"):
            self._z = None
        elif encoding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._z = zlib.decompressobj()
        else:
            raise _Failure("unsupported_encoding", f"Content-Encoding {encoding}")
        self._limit = limit

    def feed(self, chunk: bytes, room: int) -> bytes:
        if self._z is None:
            return chunk
        try:
            out = self._z.decompress(chunk, room + 1)
        except zlib.error as exc:
            raise _Failure("bad_encoding", str(exc)) from None
        if self._z.unconsumed_tail:
            raise _Failure("too_large", f"inflates beyond {self._limit} bytes")
        return out


# --------------------------------------------------------------------------------------------
# The client


class PoliteClient:
    """Async HTTP client: ``async with PoliteClient(settings) as c: await c.fetch(url)``."""

    def __init__(self, settings: FetchSettings | None = None, *,
                 host_policies: dict[str, HostPolicy] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 memory: CrawlMemory | None = None):
        self.settings = settings or FetchSettings()
        self.memory = memory if memory is not None else CrawlMemory()
        self._policies = dict(host_policies or {})
        self._addresses = netguard.AddressPolicy.build(
            self.settings.allow_private_hosts, self.settings.allow_hosts, self.settings.allow_networks
        )
        self._transport = transport or GuardedTransport(policy=self._addresses)
        self._client: httpx.AsyncClient | None = None
        self._gates: dict[str, _HostGate] = {}
        self._robots = self.memory.robots
        self._robots_locks: dict[str, asyncio.Lock] = {}
        self._global = asyncio.Semaphore(self.settings.max_concurrency)
        self.request_count = 0

    async def __aenter__(self) -> PoliteClient:
        s = self.settings
        self._client = httpx.AsyncClient(
            transport=self._transport,
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(connect=s.connect_timeout_s, read=s.read_timeout_s,
                                  write=s.read_timeout_s, pool=s.total_timeout_s),
            headers={"User-Agent": s.user_agent, "Accept-Encoding": "gzip, deflate"},
        )
        return self

    async def __aexit__(self, *exc) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def set_host_policy(self, host: str, policy: HostPolicy) -> None:
        """Override delay/concurrency/robots for one host (``name`` or ``name:port``)."""
        self._policies[host.lower()] = policy

    def _policy(self, url: str) -> HostPolicy:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        return self._policies.get(f"{host}:{parts.port}") or self._policies.get(host) or HostPolicy()

    def _gate(self, url: str) -> _HostGate:
        key = _host_key(url)
        gate = self._gates.get(key)
        if gate is None:
            policy = self._policy(url)
            gate = _HostGate(
                key,
                policy.concurrency or self.settings.per_host_concurrency,
                self.settings.per_host_delay_s if policy.delay_s is None else policy.delay_s,
                self.memory,
            )
            self._gates[key] = gate
        return gate

    async def fetch_many(self, urls: Iterable[str], *, expect: Expect = "html",
                         conditional: dict[str, tuple[str | None, str | None]] | None = None
                         ) -> list[FetchResult]:
        """Fetch URLs concurrently (within the global and per-host limits), results in order."""
        conditional = conditional or {}

        async def one(url: str) -> FetchResult:
            etag, modified = conditional.get(url, (None, None))
            return await self.fetch(url, expect=expect, etag=etag, last_modified=modified)

        return list(await asyncio.gather(*(one(u) for u in urls)))

    async def fetch(self, url: str, *, expect: Expect = "html", etag: str | None = None,
                    last_modified: str | None = None, max_bytes: int | None = None,
                    check_robots: bool = True, max_redirects: int | None = None) -> FetchResult:
        """Fetch one URL safely and politely; never raises for network or HTTP failures."""
        assert self._client is not None, "use 'async with PoliteClient(...)'"
        s = self.settings
        limit = max_bytes or (s.max_bytes if expect == "html" else s.max_feed_bytes)
        hops_left = s.max_redirects if max_redirects is None else max_redirects
        result = FetchResult(url=url)
        seen = {url}
        current = url
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        if expect == "html":
            headers["Accept"] = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
        elif expect == "feed":
            headers["Accept"] = ("application/rss+xml,application/atom+xml,application/feed+json,"
                                 "application/xml;q=0.9,text/xml;q=0.9,*/*;q=0.5")
        try:
            while True:
                await self._check_url(current, check_robots)
                status, resp_headers, body, attempts = await self._with_retries(
                    current, headers, expect, limit)
                result.attempts += attempts
                if status in REDIRECT_STATUSES:
                    target = self._redirect_target(current, resp_headers)
                    if target in seen:
                        raise _Failure("redirect_loop", f"{current} -> {target}", status=status)
                    if hops_left <= 0:
                        raise _Failure("too_many_redirects", f"more than {s.max_redirects}", status=status)
                    hops_left -= 1
                    seen.add(target)
                    result.redirects.append(target)
                    current = target
                    continue
                result.final_url = current
                result.status = status
                result.content_type = resp_headers.get("content-type")
                result.etag = resp_headers.get("etag")
                result.last_modified = resp_headers.get("last-modified")
                if status == 304:
                    return result
                if expect == "html" and not looks_like_html(result.content_type, body[:1024]):
                    raise _Failure("not_html", result.content_type or "no Content-Type", status=status)
                result.body = body
                return result
        except _Failure as failure:
            result.reason, result.detail = failure.reason, failure.detail[:500]
            result.attempts += failure.attempts
            result.status = failure.status if failure.status is not None else result.status
            result.final_url = current
            return result

    def _redirect_target(self, current: str, headers: httpx.Headers) -> str:
        location = headers.get("location")
        if not location:
            raise _Failure("bad_redirect", "redirect without Location")
        target = urljoin(current, location.strip())
        old, new = urlsplit(current).scheme, urlsplit(target).scheme
        if new not in ("http", "https"):
            raise _Failure("redirect_scheme_change", f"to {new}:")
        # http -> https upgrades are everyday and safe; https -> http downgrades are refused.
        if old == "https" and new == "http":
            raise _Failure("redirect_scheme_change", "https -> http")
        return urlunsplit(urlsplit(target)._replace(fragment=""))

    async def _check_url(self, url: str, check_robots: bool) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise _Failure("unsupported_scheme", parts.scheme or "(none)")
        if not parts.hostname:
            raise _Failure("invalid_url", "no host")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise _Failure("invalid_url", "bad port") from None
        if parts.hostname.lower().rstrip(".") in netguard.METADATA_HOSTS:
            raise _Failure("blocked_private_address", f"{parts.hostname} is a cloud metadata service")
        try:
            addresses = await netguard.resolve_host(parts.hostname, port)
        except OSError as exc:
            raise _Failure("dns_error", str(exc)) from None
        for address in addresses:
            reason = self._addresses.refusal(parts.hostname, address)
            if reason:
                raise _Failure("blocked_private_address", reason)
        if check_robots and self._respects_robots(url):
            robots = await self._robots_for(url)
            if robots is not None and not robots.can_fetch(self.settings.robots_user_agent, url):
                raise _Failure("robots_disallowed", url)

    def _respects_robots(self, url: str) -> bool:
        policy = self._policy(url)
        return self.settings.respect_robots if policy.respect_robots is None else policy.respect_robots

    async def _robots_for(self, url: str) -> urllib.robotparser.RobotFileParser | None:
        origin = _origin(url)
        if origin in self._robots:
            return self._robots[origin]
        lock = self._robots_locks.setdefault(origin, asyncio.Lock())
        async with lock:
            if origin in self._robots:
                return self._robots[origin]
            parser = urllib.robotparser.RobotFileParser()
            got = await self.fetch(origin + "/robots.txt", expect="any", max_bytes=ROBOTS_MAX_BYTES,
                                   check_robots=False, max_redirects=ROBOTS_MAX_REDIRECTS)
            if got.ok and got.status and 200 <= got.status < 300:
                parser.parse(got.body.decode("utf-8", errors="replace").splitlines())
            elif got.status and 400 <= got.status < 500:
                parser.allow_all = True  # RFC 9309 2.3.1.3: unavailable -> no restriction
            elif got.reason == "too_large":
                parser.allow_all = True
            else:
                parser.disallow_all = True  # RFC 9309 2.3.1.4: unreachable -> assume disallow
            delay = parser.crawl_delay(self.settings.robots_user_agent)
            if delay:
                self._gate(url).raise_delay(min(float(delay), self.settings.max_crawl_delay_s))
            self._robots[origin] = parser
            return parser

    async def _with_retries(self, url: str, headers: dict, expect: Expect,
                            limit: int) -> tuple[int, httpx.Headers, bytes, int]:
        s = self.settings
        gate = self._gate(url)
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._global, gate.semaphore:
                    await gate.wait_turn()
                    self.request_count += 1
                    status, resp_headers, body = await asyncio.wait_for(
                        self._request_once(url, headers, expect, limit), s.total_timeout_s)
                    if status in RETRY_STATUSES:
                        retry_after = parse_retry_after(resp_headers.get("retry-after"))
                        raise _Failure(f"http_{status}", f"HTTP {status}", retryable=True,
                                       retry_after=retry_after, status=status)
                    if status >= 400:
                        raise _Failure(f"http_{status}", f"HTTP {status}", status=status)
                    return status, resp_headers, body, attempt
            except TimeoutError:
                failure = _Failure("timeout", f"total > {s.total_timeout_s}s", retryable=True)
            except _Failure as exc:
                failure = exc
            failure.attempts = attempt
            if not failure.retryable or attempt > s.max_retries:
                if attempt > 1:
                    failure.detail = f"{failure.detail} (after {attempt} attempts)"
                raise failure
            if failure.retry_after is not None:
                if failure.retry_after > s.max_retry_after_s:
                    failure.detail = f"Retry-After {failure.retry_after:.0f}s exceeds cap"
                    raise failure
                wait = failure.retry_after
                gate.push_back(wait)
            else:
                wait = min(s.backoff_max_s, s.backoff_base_s * 2 ** (attempt - 1))
                wait *= 0.5 + random.random() / 2  # jitter: do not retry in lockstep
            await asyncio.sleep(wait)

    async def _request_once(self, url: str, headers: dict, expect: Expect,
                            limit: int) -> tuple[int, httpx.Headers, bytes]:
        assert self._client is not None
        try:
            request = self._client.build_request("GET", url, headers=headers)
            response = await self._client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise _Failure("timeout", type(exc).__name__, retryable=True) from None
        except httpx.ConnectError as exc:
            if "blocked:" in str(exc):
                raise _Failure("blocked_private_address", str(exc)) from None
            raise _Failure("connect_error", str(exc)[:200], retryable=True) from None
        except (httpx.TransportError, httpx.InvalidURL, UnicodeError) as exc:
            raise _Failure("http_error", f"{type(exc).__name__}: {exc}"[:200]) from None
        try:
            status = response.status_code
            if status in REDIRECT_STATUSES or status == 304 or status >= 400:
                return status, response.headers, b""
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise _Failure("too_large", f"Content-Length {declared} > {limit}", status=status)
            if expect == "html":
                ctype = response.headers.get("content-type")
                if ctype and not looks_like_html(ctype, b"<html"):
                    raise _Failure("not_html", ctype, status=status)
            inflater = _Inflater(response.headers.get("content-encoding", ""), limit)
            parts: list[bytes] = []
            size = 0
            async for chunk in response.aiter_raw(CHUNK_BYTES):
                data = inflater.feed(chunk, limit - size)
                size += len(data)
                if size > limit:
                    raise _Failure("too_large", f"more than {limit} bytes", status=status)
                parts.append(data)
            return status, response.headers, b"".join(parts)
        except httpx.TimeoutException as exc:
            raise _Failure("timeout", f"{type(exc).__name__} while reading", retryable=True) from None
        except (httpx.TransportError, httpx.StreamError) as exc:
            raise _Failure("http_error", f"{type(exc).__name__}: {exc}"[:200], retryable=True) from None
        finally:
            await response.aclose()


async def fetch_urls(urls: Iterable[str], settings: FetchSettings | None = None, *,
                     expect: Expect = "html",
                     host_policies: dict[str, HostPolicy] | None = None) -> list[FetchResult]:
    """Convenience: open a client, fetch the URLs, close it."""
    async with PoliteClient(settings, host_policies=host_policies) as client:
        return await client.fetch_many(urls, expect=expect)


def run_coroutine(coro: Coroutine) -> Any:
    """Run a coroutine to completion whether or not this thread already has an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
