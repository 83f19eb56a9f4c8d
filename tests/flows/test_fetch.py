"""Fetching against a real HTTP server on 127.0.0.1: the safe polite client, then the fetch flow.

Nothing here touches the internet: every URL points at the LocalServer the test starts.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpcore
import httpx
import polars as pl
import pytest
from http_server import LocalServer, Reply, article_html, local_server  # noqa: F401  (fixture)

import flows.sources.http as http
import flows.sources.netguard as netguard
from flows.sources.http import FetchSettings, GuardedTransport, PoliteClient, is_public_address, parse_retry_after
from transforms.pages import decode_page

SEEDS = Path(__file__).resolve().parents[2] / "seeds"

FAST = dict(allow_private_hosts=True, per_host_delay_s=0.0, per_host_concurrency=4, connect_timeout_s=2,
            read_timeout_s=1.0, total_timeout_s=3.0, backoff_base_s=0.05, max_retries=2, max_bytes=64 * 1024)


def fetch(url: str, **overrides) -> http.FetchResult:
    settings = FetchSettings(**{**FAST, **overrides})

    async def go():
        async with PoliteClient(settings) as client:
            return await client.fetch(url)

    return asyncio.run(go())


def fetch_all(urls: list[str], **overrides) -> tuple[list[http.FetchResult], float]:
    settings = FetchSettings(**{**FAST, **overrides})

    async def go():
        async with PoliteClient(settings) as client:
            return await client.fetch_many(urls)

    started = time.monotonic()
    results = asyncio.run(go())
    return results, time.monotonic() - started


# ------------------------------------------------------------------------------------------
# The client


def test_article_fetched_with_user_agent_and_gzip(local_server):
    page = article_html("Talks", ["Ministers met in Geneva."] * 20)
    local_server.route("/a.html", gzip.compress(page.encode()), headers={"Content-Encoding": "gzip"})
    got = fetch(local_server.url("/a.html"))
    assert got.ok and got.status == 200
    assert got.body.decode() == page
    user_agent = local_server.requests[-1][1]["User-Agent"]
    assert user_agent.startswith("fpwatch/") and "+http" in user_agent


def test_404_and_500_then_200(local_server):
    local_server.route("/flaky", responses=[Reply(status=500), Reply(status=503), Reply(body=b"<html>ok</html>")])
    missing = fetch(local_server.url("/missing"))
    assert (missing.reason, missing.status) == ("http_404", 404)
    flaky = fetch(local_server.url("/flaky"))
    assert flaky.ok and flaky.attempts == 3
    assert local_server.hits["/flaky"] == 3


def test_retries_give_up_with_the_last_reason(local_server):
    local_server.route("/down", status=503)
    got = fetch(local_server.url("/down"), max_retries=1)
    assert got.reason == "http_503" and local_server.hits["/down"] == 2


def test_retry_after_is_honoured_and_capped(local_server):
    local_server.route("/busy", responses=[Reply(status=429, headers={"Retry-After": "1"}), Reply(body=b"<html>ok</html>")])
    started = time.monotonic()
    got = fetch(local_server.url("/busy"))
    assert got.ok and time.monotonic() - started >= 0.95
    local_server.route("/later", status=429, headers={"Retry-After": "3600"})
    got = fetch(local_server.url("/later"))
    assert got.reason == "http_429" and "exceeds cap" in got.detail
    assert local_server.hits["/later"] == 1


def test_parse_retry_after():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert parse_retry_after("soon") is None


def test_slow_responses_time_out(local_server):
    local_server.route("/slow", b"<html>late</html>", delay_s=2.5)
    local_server.route("/drip", b"<html>" + b"x" * 8 * 1024, drip_s=0.5)  # each chunk in time, total too long
    results, elapsed = fetch_all([local_server.url("/slow"), local_server.url("/drip")], max_retries=0,
                                 read_timeout_s=1.0, total_timeout_s=2.0)
    assert [r.reason for r in results] == ["timeout", "timeout"]
    assert elapsed < 3.5


def test_redirects(local_server):
    local_server.route("/loop-a", status=302, headers={"Location": "/loop-b"})
    local_server.route("/loop-b", status=301, headers={"Location": "/loop-a"})
    for i in range(8):
        local_server.route(f"/hop{i}", status=307, headers={"Location": f"/hop{i + 1}"})
    local_server.route("/to-file", status=302, headers={"Location": "file:///etc/passwd"})
    local_server.route("/moved", status=301, headers={"Location": "/new#frag"})
    local_server.route("/new", b"<html>new</html>")
    results, _ = fetch_all([local_server.url(p) for p in ("/loop-a", "/hop0", "/to-file", "/moved")], max_redirects=5)
    assert [r.reason for r in results] == ["redirect_loop", "too_many_redirects", "redirect_scheme_change", None]
    assert results[3].final_url == local_server.url("/new")
    assert local_server.hits["/hop6"] == 0  # stopped after five hops


def test_size_cap_with_and_without_content_length_and_gzip_bomb(local_server):
    local_server.route("/big", b"<html>" + b"x" * 100_000)
    local_server.route("/big-stream", b"<html>" + b"x" * 100_000, send_length=False)
    local_server.route("/bomb", gzip.compress(b"<html>" + b" " * 5_000_000), headers={"Content-Encoding": "gzip"})
    results, _ = fetch_all([local_server.url(p) for p in ("/big", "/big-stream", "/bomb")])
    assert [r.reason for r in results] == ["too_large"] * 3
    assert all(r.body == b"" for r in results)


def test_not_html_and_non_utf8(local_server):
    local_server.route("/file.pdf", b"%PDF-1.4", content_type="application/pdf")
    text = "Außenminister Baerbock traf ihren Amtskollegen – Gespräche über Zölle"
    local_server.route("/latin.html", f"<html><body><p>{text}</p></body></html>".encode("cp1252"),
                       content_type="text/html; charset=windows-1252")
    results, _ = fetch_all([local_server.url("/file.pdf"), local_server.url("/latin.html")])
    assert results[0].reason == "not_html"
    assert results[1].ok and text in decode_page(results[1].body, results[1].content_type)[0]


def test_robots_txt(local_server):
    local_server.route("/robots.txt", "User-agent: *\nDisallow: /private/\n\nUser-agent: fpwatch\nDisallow: /no-fpwatch/\n",
                       content_type="text/plain")
    for path in ("/private/a", "/no-fpwatch/a", "/public/a"):
        local_server.route(path, b"<html>x</html>")
    urls = [local_server.url(p) for p in ("/private/a", "/no-fpwatch/a", "/public/a")]
    results, _ = fetch_all(urls)
    assert [r.reason for r in results] == [None, "robots_disallowed", None]  # the fpwatch group applies
    assert local_server.hits["/robots.txt"] == 1  # fetched once per origin
    assert local_server.hits["/no-fpwatch/a"] == 0
    results, _ = fetch_all(urls[1:2], respect_robots=False)
    assert results[0].ok


def test_robots_5xx_means_disallow_and_404_means_allow(local_server):
    local_server.route("/a", b"<html>x</html>")
    assert fetch(local_server.url("/a")).ok  # no robots.txt (404): allowed
    local_server.route("/robots.txt", status=503)
    got = fetch(local_server.url("/a"), max_retries=0)
    assert got.reason == "robots_disallowed"


def test_conditional_get(local_server):
    local_server.route("/feed.xml", b"<rss/>", content_type="application/rss+xml", etag='"v1"')
    settings = FetchSettings(**FAST)

    async def go():
        async with PoliteClient(settings) as client:
            first = await client.fetch(local_server.url("/feed.xml"), expect="feed")
            second = await client.fetch(local_server.url("/feed.xml"), expect="feed", etag=first.etag)
            return first, second

    first, second = asyncio.run(go())
    assert first.etag == '"v1"' and first.body == b"<rss/>"
    assert second.ok and second.not_modified and second.body == b""
    assert local_server.requests[-1][1]["If-None-Match"] == '"v1"'


def test_per_host_concurrency_and_delay(local_server):
    for i in range(4):
        local_server.route(f"/p{i}", b"<html>x</html>", delay_s=0.2)
    urls = [local_server.url(f"/p{i}") for i in range(4)]
    _, elapsed = fetch_all(urls, per_host_concurrency=1, per_host_delay_s=0.0)
    assert local_server.max_in_flight == 1 and elapsed >= 0.8
    _, elapsed = fetch_all(urls, per_host_concurrency=4, per_host_delay_s=0.3)
    assert elapsed >= 0.9  # request starts 0.3 s apart


# ------------------------------------------------------------------------------------------
# Server-side request forgery


def test_private_addresses_refused_by_default(local_server):
    local_server.route("/a", b"<html>x</html>")
    for url in (local_server.url("/a"), f"http://localhost:{local_server.port}/a"):
        got = fetch(url, allow_private_hosts=False)
        assert got.reason == "blocked_private_address"
    assert local_server.hits["/a"] == 0
    assert fetch("file:///etc/passwd").reason == "unsupported_scheme"


@pytest.mark.parametrize(("address", "public"), [
    ("8.8.8.8", True), ("127.0.0.1", False), ("10.1.2.3", False), ("192.168.0.1", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("::1", False),
    ("::ffff:127.0.0.1", False), ("fe80::1", False), ("fc00::1", False), ("224.0.0.1", False),
    ("2606:4700:4700::1111", True),
])
def test_is_public_address(address, public):
    assert is_public_address(address) is public


@pytest.fixture
def pretend_public(monkeypatch):
    """127.0.0.1 counts as public, 127.0.0.2 as private; names in `names` resolve as given."""
    names: dict[str, list[str]] = {}
    real_resolve = netguard.resolve_host

    async def resolve(host, port):
        if host in names:
            answer = names[host]
            return [answer.pop(0)] if len(answer) > 1 else answer
        return await real_resolve(host, port)

    monkeypatch.setattr(netguard, "is_public_address", lambda a: a == "127.0.0.1")
    monkeypatch.setattr(netguard, "resolve_host", resolve)
    return names


def test_redirect_to_private_address_is_refused(local_server, pretend_public):
    local_server.route("/go", status=302, headers={"Location": f"http://127.0.0.2:{local_server.port}/inside"})
    local_server.route("/inside", b"<html>secret</html>")
    got = fetch(local_server.url("/go"), allow_private_hosts=False)
    assert got.reason == "blocked_private_address"
    assert local_server.hits["/inside"] == 0


def test_public_name_resolving_to_private_is_refused(local_server, pretend_public):
    pretend_public["news.example.test"] = ["127.0.0.2"]
    local_server.route("/a", b"<html>x</html>")
    got = fetch(f"http://news.example.test:{local_server.port}/a", allow_private_hosts=False)
    assert got.reason == "blocked_private_address"


def test_connection_layer_refuses_private_address(local_server, pretend_public, monkeypatch):
    """DNS rebinding: the name checks out as public, then resolves to a private address on connect."""
    pretend_public["rebind.example.test"] = ["127.0.0.1", "127.0.0.2"]
    local_server.route("/a", b"<html>x</html>")
    got = fetch(f"http://rebind.example.test:{local_server.port}/a", allow_private_hosts=False,
                respect_robots=False, max_retries=0)
    assert got.reason == "blocked_private_address"

    async def direct():
        async with httpx.AsyncClient(transport=GuardedTransport(allow_private=False)) as client:
            await client.get(local_server.url("/a"))

    monkeypatch.setattr(netguard, "is_public_address", lambda address: False)
    with pytest.raises(httpx.ConnectError, match="blocked"):
        asyncio.run(direct())
    assert local_server.hits["/a"] == 0


# ------------------------------------------------------------------------------------------
# The flow


def _seed_pages() -> list[tuple[str, str]]:
    """(title, html) for each seed article: real foreign-policy text as the pages' bodies."""
    pages = []
    for path in sorted(SEEDS.glob("*.txt")):
        lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
        first = lines[0].removeprefix("date ").split(" ", 1)
        title = " ".join(lines[1].split()[:8])
        pages.append((title, article_html(title, lines[1:]), first[0]))
    return pages


XML_BOMB = b"""<?xml version="1.0"?><!DOCTYPE b [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>
<rss version="2.0"><channel><title>&b;</title><item><link>http://127.0.0.1/never</link></item></channel></rss>"""


@pytest.fixture
def news_site(local_server, monkeypatch):
    """A small news site: articles in RSS, Atom, JSON Feed, a sitemap index and a URL list, plus traps."""
    s = local_server
    pages = _seed_pages()
    for i, (_, html, _) in enumerate(pages):
        s.route(f"/world/{i}.html", html)
    # distinct paragraphs: extraction folds repeated ones, which would leave too few words
    latin = article_html("Gespräche", [f"Außenminister treffen sich in Genf zur {n}. Runde von Gesprächen über Zölle "
                                       "und Sanktionen, sagte ein Sprecher am Montag." for n in range(1, 13)],
                         charset="windows-1252")
    s.route("/world/latin.html", latin.encode("cp1252"), content_type="text/html; charset=windows-1252")
    s.route("/world/flaky.html", responses=[Reply(status=500), Reply(body=pages[4][1].encode())])
    s.route("/world/slow.html", pages[0][1], delay_s=2.5)
    s.route("/world/loop.html", status=302, headers={"Location": "/world/loop.html?again=1"})
    s.route("/world/loop.html?again=1", status=302, headers={"Location": "/world/loop.html"})
    s.route("/world/huge.html", "<html>" + "x" * 300_000)
    s.route("/world/doc.pdf", b"%PDF-1.4", content_type="application/pdf")
    items = "".join(f"<item><title>{t}</title><link>{s.url(f'/world/{i}.html')}</link></item>"
                    for i, (t, _, _) in enumerate(pages[:2]))
    items += "".join(f"<item><link>{s.url(p)}</link></item>" for p in
                     ("/world/missing.html", "/world/slow.html", "/world/loop.html", "/world/huge.html"))
    s.route("/rss.xml", f'<?xml version="1.0"?><rss version="2.0"><channel><title>W</title>{items}</channel></rss>',
            content_type="application/rss+xml", etag='"rss-1"')
    s.route("/atom.xml", f'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title><id>a</id>'
            f'<entry><id>e2</id><title>{pages[2][0]}</title><link href="/world/2.html"/></entry>'
            f'<entry><id>e9</id><title>pdf</title><link href="/world/doc.pdf"/></entry></feed>',
            content_type="application/atom+xml", headers={"Last-Modified": "Tue, 05 Mar 2024 10:00:00 GMT"})
    s.route("/feed.json", json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": [
        {"id": "3", "url": s.url("/world/3.html")}, {"id": "l", "url": "/world/latin.html"}]}),
        content_type="application/feed+json", etag='"json-1"')
    s.route("/bomb.xml", XML_BOMB, content_type="application/rss+xml")
    s.route("/sitemap.xml", f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>'
            f'{s.url("/sitemap-news.xml")}</loc></sitemap></sitemapindex>', content_type="application/xml")
    s.route("/sitemap-news.xml", f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>'
            f'{s.url("/world/flaky.html")}</loc></url><url><loc>{s.url("/world/0.html")}</loc></url></urlset>',
            content_type="application/xml")
    for name, value in {"PER_HOST_DELAY_S": "0", "PER_HOST_CONCURRENCY": "4", "READ_TIMEOUT_S": "1",
                        "TOTAL_TIMEOUT_S": "2", "BACKOFF_BASE_S": "0.05", "MAX_RETRIES": "1",
                        "MAX_BYTES": "200000"}.items():
        monkeypatch.setenv(f"FPWATCH_{name}", value)
    from flows.settings import get_settings

    get_settings.cache_clear()  # settings are read once per process: read them with these values
    yield s
    get_settings.cache_clear()  # monkeypatch restores the environment after this; read it afresh then


def _run_fetch(site: LocalServer, warehouse: Path, tmp_path: Path):
    from flows.sources.fetch import fetch_flow

    urls_file = tmp_path / "urls.txt"
    urls_file.write_text(f"# extra pages\n{site.url('/world/4.html')}\nnot a url\n")
    sources = tmp_path / "sources.toml"
    sources.write_text(f'[[sources]]\nname = "Local News"\nfeeds = ["{site.url("/feed.json")}"]\n'
                       f'sitemaps = ["{site.url("/sitemap.xml")}"]\n[sources.options]\nper_host_delay_s = 0\n')
    return fetch_flow(feeds=[site.url("/rss.xml"), site.url("/atom.xml"), site.url("/bomb.xml")],
                      urls_file=str(urls_file), sources_file=str(sources), warehouse=str(warehouse),
                      allow_private=True, batch_size=4)


ARTICLE_PATHS = [f"/world/{i}.html" for i in range(5)] + ["/world/latin.html", "/world/flaky.html"]


def test_fetch_flow_end_to_end_then_incremental(prefect_harness, news_site, tmp_path):
    from flows.sources.fetch import FetchStore
    from flows.warehouse.store import Warehouse

    warehouse = tmp_path / "wh"
    summary = _run_fetch(news_site, warehouse, tmp_path)
    store = Warehouse(warehouse)
    articles = store.read("articles")
    fetched_sources = set(articles["source"].to_list())
    for path in ARTICLE_PATHS:
        assert news_site.url(path) in fetched_sources, path
    assert all(s.startswith("http://127.0.0.1:") for s in fetched_sources)
    latin = articles.filter(pl.col("source") == news_site.url("/world/latin.html"))["body"][0]
    assert "Außenminister" in latin
    reasons = dict(store.read("rejects").select("source", "reason").iter_rows())
    assert reasons[news_site.url("/world/missing.html")] == "http_404"
    assert reasons[news_site.url("/world/slow.html")] == "timeout"
    assert reasons[news_site.url("/world/loop.html")] == "redirect_loop"
    assert reasons[news_site.url("/world/huge.html")] == "too_large"
    assert reasons[news_site.url("/world/doc.pdf")] == "not_html"
    assert reasons[news_site.url("/bomb.xml")] == "xml_bomb"
    assert reasons["not a url"] == "invalid_url"
    assert news_site.hits["/world/0.html"] == 1  # in the RSS feed and the sitemap: fetched once
    raw_store = FetchStore(store)
    raw = raw_store.read_raw([news_site.url(p) for p in ARTICLE_PATHS])
    assert set(raw["url"].to_list()) >= {news_site.url(p) for p in ARTICLE_PATHS}
    assert raw.filter(pl.col("url") == news_site.url("/world/latin.html"))["body"][0].startswith(b"<!DOCTYPE")
    assert summary["pages_ok"] == len(ARTICLE_PATHS)

    # Second run over unchanged feeds: conditional requests, no article page fetched again.
    before = news_site.hits.copy()
    second = _run_fetch(news_site, warehouse, tmp_path)
    for path in ARTICLE_PATHS + ["/world/missing.html", "/world/loop.html", "/world/huge.html", "/world/doc.pdf"]:
        assert news_site.hits[path] == before[path], path
    conditional = [h for p, h in news_site.requests if p == "/rss.xml"][-1]
    assert conditional.get("If-None-Match") == '"rss-1"'
    assert news_site.hits["/world/slow.html"] > before["/world/slow.html"]  # transient: retried next run
    assert second["pages_ok"] == 0
    assert store.read("articles").height == articles.height


class Killed(Exception):
    """Stands for the process dying between storing a batch's raw pages and ingesting them."""


def test_killed_run_resumes_without_loss_or_doubles(prefect_harness, news_site, tmp_path, monkeypatch):
    import flows.pipeline.process as pipeline_module
    from flows.warehouse.store import Warehouse

    real_chunk = pipeline_module._process_chunk
    calls = {"n": 0}

    def dying_chunk(docs, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the second batch's pages are fetched and stored, then the run dies
            raise Killed("killed")
        return real_chunk(docs, *args, **kwargs)

    monkeypatch.setattr(pipeline_module, "_process_chunk", dying_chunk)
    warehouse = tmp_path / "wh"
    with pytest.raises(Killed):
        _run_fetch(news_site, warehouse, tmp_path)
    hits_after_kill = news_site.hits.copy()
    monkeypatch.setattr(pipeline_module, "_process_chunk", real_chunk)
    summary = _run_fetch(news_site, warehouse, tmp_path)
    articles = Warehouse(warehouse).read("articles")
    assert sorted(articles["source"].to_list()) == sorted(news_site.url(p) for p in ARTICLE_PATHS)
    assert articles["article_id"].n_unique() == articles.height
    for path in ARTICLE_PATHS:  # fetched before the kill: taken from raw_pages, not re-requested
        if hits_after_kill[path]:
            assert news_site.hits[path] == hits_after_kill[path], path
    assert summary["pages_reused"] >= 1


@pytest.fixture
def connect_attempts(monkeypatch):
    """Every TCP connection the guarded client tries, recorded before the real connect."""
    attempts: list[tuple[str, int]] = []
    real = httpcore.AnyIOBackend.connect_tcp

    async def record(self, host, port, *args, **kwargs):
        attempts.append((host, port))
        return await real(self, host, port, *args, **kwargs)

    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", record)
    return attempts


@pytest.mark.parametrize("target", [
    "http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/", "http://224.0.0.1/", "http://0.0.0.0/",
    "http://metadata.google.internal/computeMetadata/v1/", "http://[fd00:ec2::254]/",
])
def test_allowing_private_hosts_never_opens_metadata_link_local_or_multicast(local_server, connect_attempts, target):
    local_server.route("/feed-link", status=302, headers={"Location": target})
    got = fetch(local_server.url("/feed-link"), allow_private_hosts=True, allow_networks=["0.0.0.0/0", "::/0"],
                allow_hosts=["metadata.google.internal"], max_retries=0)
    assert got.reason == "blocked_private_address", got
    host = urlsplit(target).hostname
    assert all(h != host for h, _ in connect_attempts), connect_attempts  # refused before any connect()
    assert [p for h, p in connect_attempts] == [local_server.port] * len(connect_attempts)


def test_allow_host_and_allow_network_open_exactly_what_they_name(local_server, connect_attempts):
    local_server.route("/a", b"<html><body><p>x</p></body></html>")
    url = local_server.url("/a")
    assert fetch(url, allow_private_hosts=False).reason == "blocked_private_address"
    assert fetch(url, allow_private_hosts=False, allow_networks=["127.0.0.0/30"]).ok
    assert fetch(url, allow_private_hosts=False, allow_networks=["10.0.0.0/8"]).reason == "blocked_private_address"
    named = f"http://localhost:{local_server.port}/a"
    assert fetch(named, allow_private_hosts=False, allow_hosts=["localhost"]).ok
    assert fetch(named, allow_private_hosts=False, allow_hosts=["example.org"]).reason == "blocked_private_address"
    with pytest.raises(ValueError, match="CIDR"):
        netguard.AddressPolicy.build(False, [], ["10.0.0.0/33"])
