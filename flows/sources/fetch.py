"""`fpwatch fetch`: discover article URLs from feeds, sitemaps and URL lists, fetch them politely,
keep the raw pages, and hand them to the shared pipeline.

Incremental and restartable, with two small lake tables of our own (flows/sources/fetch_store.py:
``fetch_state``, the latest event per URL, and ``raw_pages``, the raw bytes of every page).

Per run:
1. discover: fetch feeds/sitemaps (conditional GET with the stored ETag/Last-Modified), parse
   them, and write ONE state file holding the feeds' new validators together with every new page
   URL as ``queued``. A feed answering 304 next time loses nothing: its queued URLs stay queued.
2. per batch of pages (one task, concurrency inside): pages already in ``raw_pages`` but not yet
   ingested (a killed run) are re-used without a request; the rest are fetched and their raw
   bytes written to ``raw_pages`` first; then the batch is ingested and, last, the batch's
   state rows (``fetched``/``rejected``) are written. A run killed anywhere re-does at most the
   ingest of one batch, which replaces the same article ids: nothing is lost or doubled.
3. Transient failures (timeouts, 429/5xx, connection errors) stay pending for later runs, up to
   MAX_TRANSIENT_TRIES runs; permanent ones (404, robots, too_large, not_html, ...) are final.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Optional

import polars as pl
import typer
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from flows.sources.fetch_store import MAX_TRANSIENT_TRIES, RAW_SCHEMA, TRANSIENT_REASONS, FetchStore, state_row
from flows.sources.files import DOCUMENT_SCHEMA
from flows.sources.http import CrawlMemory, FetchResult, FetchSettings, HostPolicy, PoliteClient, run_coroutine
from flows.sources.netguard import AddressPolicy
from flows.pipeline.process import process_documents
from flows.pipeline.reports import run_lifecycle
from flows.settings import Settings, get_settings
from flows.warehouse.store import Reject, Warehouse
from transforms.feeds import (
    FeedError,
    canonicalize_url,
    host_of,
    parse_feed,
    parse_sitemap,
    parse_url_list,
)
from transforms.pages import decode_page
from transforms.sources import SourceConfig, SourceOptions, SourcesError, format_for, parse_sources

#: Pages per fetch task: enough to keep 16 connections busy for a while and make Prefect's ~10-70 ms
#: per task run noise, small enough that a killed run re-does little (raw bytes are kept anyway).
DEFAULT_FETCH_BATCH = 100
#: Sitemap indexes nest; news sites rarely go deeper than index -> monthly index -> urlset.
DEFAULT_SITEMAP_DEPTH = 2


# --------------------------------------------------------------------------------------------
# Small helpers


# --------------------------------------------------------------------------------------------
# Discovery


@dataclass
class Target:
    """A page URL to fetch and where it came from."""

    url: str
    source_name: str | None
    discovered_from: str


@dataclass
class Plan:
    """What discovery found: page targets, rejects, host policies, per-source page caps."""

    targets: list[Target] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    policies: dict[str, HostPolicy] = field(default_factory=dict)
    caps: dict[str, int] = field(default_factory=dict)


@dataclass
class _Origin:
    """A feed/sitemap/URL-list entry point with the source it belongs to."""

    kind: str  # feed | sitemap | url
    url: str
    source: SourceConfig | None


def load_sources_file(path: Path) -> list[SourceConfig]:
    """Read and validate a sources file (TOML or YAML); raise SourcesError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SourcesError(f"{path}: {exc.strerror or exc}") from None
    try:
        return parse_sources(text, format_for(path.name)).enabled()
    except SourcesError as exc:
        raise SourcesError(f"{path}:\n{exc}") from None


def _policy_for(options: SourceOptions) -> HostPolicy:
    return HostPolicy(delay_s=options.per_host_delay_s, concurrency=options.per_host_concurrency,
                      respect_robots=options.respect_robots)


async def _discover(origins: list[_Origin], fetch_settings: FetchSettings, state: pl.DataFrame,
                    run_id: str, memory: CrawlMemory) -> tuple[Plan, list[dict[str, Any]]]:
    plan = Plan()
    state_rows: list[dict[str, Any]] = []
    validators = {u: (e, m) for u, e, m in state.filter(pl.col("kind") != "page")
                  .select("url", "etag", "last_modified").iter_rows()}
    pages = state.filter(pl.col("kind") == "page")
    known = set(pages["url"].to_list()) | set(pages["final_url"].drop_nulls().to_list())
    queued: set[str] = set()
    for origin in origins:
        if origin.source is not None:
            policy = _policy_for(origin.source.options)
            for url in (*origin.source.feeds, *origin.source.sitemaps, *origin.source.urls):
                plan.policies.setdefault(host_of(url), policy)
            if origin.source.options.max_pages is not None:
                plan.caps[origin.source.name] = origin.source.options.max_pages

    def add_page(url: str | None, raw: str, origin: _Origin, found_in: str) -> None:
        if url is None:
            plan.rejects.append(Reject(raw, "invalid_url", f"unusable URL found in {found_in}"))
            return
        if origin.source is not None and not origin.source.wants(url):
            return
        if url in known or url in queued:
            return
        queued.add(url)
        name = origin.source.name if origin.source else None
        plan.targets.append(Target(url, name, found_in))
        state_rows.append(state_row(url, "page", "queued", run_id, source_name=name,
                                     discovered_from=found_in))
        if origin.source is not None:
            plan.policies.setdefault(host_of(url), _policy_for(origin.source.options))

    async with PoliteClient(fetch_settings, host_policies=plan.policies, memory=memory) as client:

        async def read_origin(origin: _Origin) -> None:
            url = canonicalize_url(origin.url)
            if url is None:
                plan.rejects.append(Reject(origin.url, "invalid_url", f"not an http(s) {origin.kind} URL"))
                return
            if origin.kind == "url":
                add_page(url, origin.url, origin, "url list")
                return
            depth = (origin.source.options.max_sitemap_depth if origin.source else None)
            await read_document(origin, url, DEFAULT_SITEMAP_DEPTH if depth is None else depth)

        async def read_document(origin: _Origin, url: str, depth: int) -> None:
            etag, modified = validators.get(url, (None, None))
            got: FetchResult = await client.fetch(url, expect="feed", etag=etag, last_modified=modified)
            name = origin.source.name if origin.source else None
            if not got.ok:
                plan.rejects.append(Reject(url, got.reason or "error", got.detail))
                state_rows.append(state_row(url, origin.kind, "rejected", run_id, reason=got.reason,
                                             detail=got.detail, http_status=got.status, source_name=name))
                return
            if got.not_modified:
                state_rows.append(state_row(url, origin.kind, "not_modified", run_id, etag=etag,
                                             last_modified=modified, http_status=304, source_name=name))
                return
            base = got.final_url or url
            try:
                if origin.kind == "feed":
                    entries = parse_feed(got.body, base_url=base).entries
                    pages = list(zip(entries["url"].to_list(), entries["link"].to_list(), strict=True))
                    children: list[str] = []
                else:
                    sitemap = parse_sitemap(got.body, base_url=base)
                    pages = [(u, u) for u in sitemap.urls["url"].to_list()]
                    children = sitemap.sitemaps
            except FeedError as exc:
                plan.rejects.append(Reject(url, exc.reason, str(exc)[:500]))
                state_rows.append(state_row(url, origin.kind, "rejected", run_id, reason=exc.reason,
                                             detail=str(exc)[:500], http_status=got.status, source_name=name))
                return
            for page_url, raw in pages:
                add_page(page_url, raw or "", origin, url)
            state_rows.append(state_row(url, origin.kind, "fetched", run_id, etag=got.etag,
                                         last_modified=got.last_modified, http_status=got.status,
                                         source_name=name, raw_sha256=hashlib.sha256(got.body).hexdigest()))
            if children:
                if depth <= 0:
                    plan.rejects.append(Reject(url, "sitemap_too_deep", f"{len(children)} child sitemaps skipped"))
                    return
                await asyncio.gather(*(read_document(origin, child, depth - 1) for child in children))

        await asyncio.gather(*(read_origin(o) for o in origins))
    return plan, state_rows


def _pending_from_state(state: pl.DataFrame, already: set[str]) -> list[Target]:
    """Pages queued by an earlier run, or failed transiently fewer than MAX_TRANSIENT_TRIES times."""
    pages = state.filter(pl.col("kind") == "page")
    pending = pages.filter(
        (pl.col("status") == "queued")
        | ((pl.col("status") == "rejected") & pl.col("reason").is_in(list(TRANSIENT_REASONS))
           & (pl.col("tries") < MAX_TRANSIENT_TRIES))
    )
    return [Target(u, s, f or "earlier run") for u, s, f in
            pending.select("url", "source_name", "discovered_from").iter_rows() if u not in already]


@task(name="discover-urls", cache_policy=NO_CACHE)
def discover_urls(origins: list[_Origin], fetch_settings: FetchSettings, store: FetchStore,
                  run_id: str, memory: CrawlMemory) -> Plan:
    """Read feeds, sitemaps and URL lists; queue every new page URL (state written atomically)."""
    state = store.state()
    plan, rows = run_coroutine(_discover(origins, fetch_settings, state, run_id, memory))
    store.write_state(rows, f"{run_id}-discover")
    fresh = {t.url for t in plan.targets}
    plan.targets.extend(_pending_from_state(state, fresh))
    return plan


def _apply_caps(plan: Plan, max_pages: int | None) -> list[Target]:
    counts: dict[str, int] = {}
    out = []
    for target in plan.targets:
        if target.source_name in plan.caps:
            counts[target.source_name] = counts.get(target.source_name, 0) + 1
            if counts[target.source_name] > plan.caps[target.source_name]:
                continue  # stays queued for the next run
        out.append(target)
    return out[:max_pages] if max_pages is not None else out


# --------------------------------------------------------------------------------------------
# Fetching pages


@dataclass
class FetchedBatch:
    """Pages of one batch ready for the pipeline, and the state rows to write after ingest."""

    docs: pl.DataFrame
    state_rows: list[dict[str, Any]]
    rejects: list[Reject]
    fetched: int = 0
    reused: int = 0


def _page_doc(final_url: str, body: bytes, content_type: str | None, fetched_at: dt.datetime) -> dict:
    text, _ = decode_page(body, content_type)
    return {"source": final_url, "kind": "html", "content": text, "url": final_url,
            "raw_sha256": hashlib.sha256(body).hexdigest(), "first_seen_at": fetched_at}


@task(name="fetch-pages", cache_policy=NO_CACHE)
def fetch_pages(targets: list[Target], fetch_settings: FetchSettings, policies: dict[str, HostPolicy],
                store: FetchStore, run_id: str, batch_no: int, previous: dict[str, int],
                memory: CrawlMemory) -> FetchedBatch:
    """Fetch one batch of pages concurrently (raw bytes stored first); reuse pages already stored."""
    by_url = {t.url: t for t in targets}
    reuse = store.read_raw(list(by_url))
    reused_urls = set(reuse["url"].to_list())
    to_fetch = [t.url for t in targets if t.url not in reused_urls]

    results: list[FetchResult] = []
    if to_fetch:
        async def go() -> list[FetchResult]:
            async with PoliteClient(fetch_settings, host_policies=policies, memory=memory) as client:
                return await client.fetch_many(to_fetch, expect="html")
        results = run_coroutine(go())

    raw_rows, docs, rows, rejects = [], [], [], []
    for res in results:
        target = by_url[res.url]
        final = canonicalize_url(res.final_url) or res.url
        if res.ok and res.body:
            sha = hashlib.sha256(res.body).hexdigest()
            raw_rows.append({"url": res.url, "final_url": final, "http_status": res.status,
                             "content_type": res.content_type, "etag": res.etag,
                             "last_modified": res.last_modified, "body": res.body, "raw_sha256": sha,
                             "fetched_at": res.fetched_at, "run_id": run_id,
                             "partition_date": res.fetched_at.date()})
            docs.append(_page_doc(final, res.body, res.content_type, res.fetched_at))
            rows.append(state_row(res.url, "page", "fetched", run_id, http_status=res.status,
                                   final_url=final, raw_sha256=sha, source_name=target.source_name,
                                   discovered_from=target.discovered_from))
        else:
            reason = res.reason or "empty_body"
            rejects.append(Reject(res.url, reason, res.detail))
            tries = previous.get(res.url, 0) + (1 if reason in TRANSIENT_REASONS else 0)
            rows.append(state_row(res.url, "page", "rejected", run_id, reason=reason, detail=res.detail,
                                   http_status=res.status, final_url=final, tries=tries,
                                   source_name=target.source_name, discovered_from=target.discovered_from))
    store.write_raw(raw_rows, f"{run_id}-{batch_no:05d}")
    for row in reuse.iter_rows(named=True):
        target = by_url[row["url"]]
        docs.append(_page_doc(row["final_url"], row["body"], row["content_type"], row["fetched_at"]))
        rows.append(state_row(row["url"], "page", "fetched", run_id, http_status=row["http_status"],
                               final_url=row["final_url"], raw_sha256=row["raw_sha256"],
                               source_name=target.source_name, discovered_from=target.discovered_from,
                               detail="re-used stored raw page"))
    frame = pl.DataFrame(docs, schema=DOCUMENT_SCHEMA, orient="row") if docs else pl.DataFrame(schema=DOCUMENT_SCHEMA)
    frame = frame.unique("source", keep="first", maintain_order=True)  # two URLs redirecting to one page
    return FetchedBatch(frame, rows, rejects, fetched=len(results), reused=reuse.height)


# --------------------------------------------------------------------------------------------
# The flow


def build_fetch_settings(settings: Settings, allow_private: bool, allow_hosts: list[str] | None = None,
                         allow_networks: list[str] | None = None) -> FetchSettings:
    """The fetch part of the run's settings, with the run's allow-private switch applied."""
    base = FetchSettings(**settings.model_dump(include=set(FetchSettings.model_fields)))
    return base.model_copy(update={
        "allow_private_hosts": allow_private or settings.allow_private_hosts,
        "allow_hosts": list(settings.allow_hosts) + list(allow_hosts or []),
        "allow_networks": list(settings.allow_networks) + list(allow_networks or []),
    })


def _origins(feeds: list[str], sitemaps: list[str], urls_file: str | None,
             sources: list[SourceConfig]) -> tuple[list[_Origin], list[Reject]]:
    origins = [_Origin("feed", u, None) for u in feeds] + [_Origin("sitemap", u, None) for u in sitemaps]
    rejects: list[Reject] = []
    if urls_file:
        try:
            lines = parse_url_list(Path(urls_file).read_text(encoding="utf-8", errors="replace"))
        except OSError as exc:
            raise FileNotFoundError(f"{urls_file}: {exc.strerror or exc}") from None
        origins += [_Origin("url", u, None) for u in lines]
    for source in sources:
        origins += [_Origin("feed", u, source) for u in source.feeds]
        origins += [_Origin("sitemap", u, source) for u in source.sitemaps]
        origins += [_Origin("url", u, source) for u in source.urls]
    return origins, rejects


@flow(name="fetch", log_prints=True)
def fetch_flow(
    feeds: list[str] | None = None,
    sitemaps: list[str] | None = None,
    urls_file: str | None = None,
    sources_file: str | None = None,
    warehouse: str | None = None,
    allow_private: bool = False,
    max_pages: int | None = None,
    batch_size: int = DEFAULT_FETCH_BATCH,
    allow_hosts: list[str] | None = None,
    allow_networks: list[str] | None = None,
) -> dict[str, Any]:
    """Fetch new articles from feeds, sitemaps, URL lists and a sources file into the warehouse."""
    settings = get_settings()
    logger = get_run_logger()
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    sources = load_sources_file(Path(sources_file)) if sources_file else []
    origins, _ = _origins(list(feeds or []), list(sitemaps or []), urls_file, sources)
    if not origins:
        raise ValueError("nothing to fetch: give --feed, --sitemap, --urls or --sources")
    fetch_settings = build_fetch_settings(settings, allow_private, allow_hosts, allow_networks)
    AddressPolicy.build(False, fetch_settings.allow_hosts, fetch_settings.allow_networks)  # a bad CIDR fails here
    store = Warehouse(warehouse or settings.warehouse)
    params = {"feeds": feeds or [], "sitemaps": sitemaps or [], "urls_file": urls_file,
              "sources_file": sources_file, "warehouse": str(store.root),
              "allow_private": fetch_settings.allow_private_hosts, "allow_hosts": fetch_settings.allow_hosts,
              "allow_networks": fetch_settings.allow_networks, "max_pages": max_pages}
    fstore = FetchStore(store)
    started = time.monotonic()
    counts = {"pages_fetched": 0, "pages_reused": 0, "pages_ok": 0, "pages_rejected": 0}
    fetch_seconds = 0.0

    with run_lifecycle("fetch", params, store, settings) as run:
        memory = CrawlMemory()  # robots.txt and per-host clocks shared by every task of the run
        plan = discover_urls(origins, fetch_settings, fstore, run.run_id, memory)
        run.rejects.extend(plan.rejects)
        targets = _apply_caps(plan, max_pages)
        logger.info("discovered %d pages to fetch (%d rejects while discovering)", len(targets), len(plan.rejects))
        previous = {u: t for u, t in fstore.state().select("url", "tries").iter_rows()}

        def fetched_chunks() -> Iterator[pl.DataFrame]:
            # A generator: the pipeline commits each batch's articles before the batch's state is
            # written, so a run killed in between fetches nothing again (raw pages are stored first).
            nonlocal fetch_seconds
            for batch_no, offset in enumerate(range(0, len(targets), batch_size), start=1):
                batch = targets[offset:offset + batch_size]
                tick = time.monotonic()
                fetched = fetch_pages(batch, fetch_settings, plan.policies, fstore, run.run_id, batch_no, previous,
                                      memory)
                fetch_seconds += time.monotonic() - tick
                run.rejects.extend(fetched.rejects)
                run.articles_in += len(fetched.rejects)
                counts["pages_fetched"] += fetched.fetched
                counts["pages_reused"] += fetched.reused
                counts["pages_ok"] += fetched.docs.height
                counts["pages_rejected"] += len(fetched.rejects)
                yield fetched.docs
                fstore.write_state(fetched.state_rows, f"{run.run_id}-{batch_no:05d}")
                logger.info("batch %d: %d pages ok, %d rejected, %.1f pages/s", batch_no, fetched.docs.height,
                            len(fetched.rejects), (offset + len(batch)) / max(time.monotonic() - started, 1e-9))

        process_documents(fetched_chunks(), settings=settings, run=run)
        fstore.compact()
    summary = run.summary
    summary.update(counts)
    summary["seconds"] = round(time.monotonic() - started, 2)
    summary["fetch_seconds"] = round(fetch_seconds, 2)
    summary["warehouse"] = str(store.root)
    summary["rejects_by_reason"] = _count_reasons(run.rejects)
    logger.info("fetch %s: %d pages fetched (%d re-used), %d articles written, %d rejected, %.1f s",
                run.run_id, counts["pages_fetched"], counts["pages_reused"], run.articles_written,
                len(run.rejects), summary["seconds"])
    return summary


def _count_reasons(rejects: list[Reject]) -> dict[str, int]:
    out: dict[str, int] = {}
    for reject in rejects:
        out[reject.reason] = out.get(reject.reason, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


# --------------------------------------------------------------------------------------------
# CLI (registered by flows/cli.py: app.command("fetch")(fetch_command))


def fetch_command(
    feed: Annotated[Optional[list[str]], typer.Option("--feed", help="RSS/Atom/JSON Feed URL (repeatable).")] = None,
    sitemap: Annotated[Optional[list[str]], typer.Option("--sitemap", help="Sitemap or sitemap index URL (repeatable).")] = None,
    urls: Annotated[Optional[Path], typer.Option("--urls", help="File of page URLs, one a line (# comments).")] = None,
    sources: Annotated[Optional[Path], typer.Option("--sources", help="Sources file (.toml/.yaml) naming outlets.")] = None,
    warehouse: Annotated[Optional[Path], typer.Option("--warehouse", "-w", help="Warehouse directory [env FPWATCH_WAREHOUSE, default ./data].")] = None,
    allow_private: Annotated[bool, typer.Option("--allow-private", help="Also fetch from loopback and private ranges (127/8, 10/8, 172.16/12, 192.168/16, fc00::/7, 100.64/10) [env FPWATCH_ALLOW_PRIVATE_HOSTS].")] = False,
    allow_host: Annotated[Optional[list[str]], typer.Option("--allow-host", help="Also fetch from this host name, whatever it resolves to (repeatable) [env FPWATCH_ALLOW_HOSTS, JSON list].")] = None,
    allow_network: Annotated[Optional[list[str]], typer.Option("--allow-network", help="Also fetch from this CIDR range, e.g. 10.20.0.0/16 (repeatable) [env FPWATCH_ALLOW_NETWORKS]. Link-local, metadata and multicast addresses stay refused.")] = None,
) -> None:
    """Fetch new articles from feeds, sitemaps and URL lists into the warehouse.

    Example: fpwatch fetch --feed https://feeds.bbci.co.uk/news/world/rss.xml --warehouse data
    """
    from rich.console import Console

    console = Console(stderr=True)
    try:
        summary = fetch_flow(
            feeds=list(feed or []), sitemaps=list(sitemap or []),
            urls_file=str(urls) if urls else None, sources_file=str(sources) if sources else None,
            warehouse=str(warehouse) if warehouse else None, allow_private=allow_private,
            allow_hosts=list(allow_host or []), allow_networks=list(allow_network or []),
        )
    except (SourcesError, ValueError, FileNotFoundError) as exc:
        console.print(f"[red]error:[/red] {str(exc).strip()}")
        raise typer.Exit(2) from None
    console.print(
        f"fetch {summary['run_id']}: {summary['pages_fetched']} pages fetched, "
        f"{summary['articles_written']} articles written, {summary['rejects']} rejected "
        f"{summary['rejects_by_reason'] or ''} in {summary['seconds']} s -> {summary['warehouse']}"
    )
    raise typer.Exit(1 if summary["pages_fetched"] and not summary["pages_ok"] else 0)
