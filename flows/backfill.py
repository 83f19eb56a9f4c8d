"""`backfill`: rebuild a date range of day partitions, from stored raw inputs or by re-fetching.

A day partition is the unit of work: one `backfill-day` task run per day (31 days = 31 task runs
plus one for the data checks), never one per article. Inside a day the shared pipeline's steps run
as plain functions (`.fn`), so they add no task runs.

Days run `Settings.backfill_concurrency` at a time. Each day reads and transforms on its own (the
slow, parallel part), then links and writes *in date order* (a turnstile): duplicates and stories
are found against earlier days exactly as an incremental run would find them, whatever the
concurrency. While it writes, a day holds its partition lock (flows/locks.py), so two runs
rebuilding the same day never interleave. Each table's partition file is replaced atomically
(temp file + rename, flows/warehouse.py); re-running a day gives the same rows.

Parameters are validated before anything is written: end before start, a range over
`Settings.max_backfill_days`, an unknown mode or source fail at once with one clear message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import polars as pl
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger
from prefect.task_runners import ThreadPoolTaskRunner

from flows.files import DOCUMENT_SCHEMA
from flows.locks import partition_locks
from flows.reports import close_run, fail_run
from flows.runs import RunContext, start_run
from flows.settings import Settings, get_settings
from flows.warehouse import Reject, Warehouse
from transforms import PIPELINE_VERSION

MODES = ("reprocess", "refetch")
BackfillMode = Literal["reprocess", "refetch"]
#: Tables rebuilt from an article; an article rejected on reprocessing leaves all of them (its
#: raw input stays, so a later pipeline can accept it again).
DERIVED_TABLES = ("articles", "mentions", "article_topics", "article_signatures")
RAW_COLUMNS = ["article_id", "source", "kind", "url", "content", "raw_sha256", "first_seen_at"]


class BackfillError(ValueError):
    """Bad backfill parameters; nothing was written."""


# ------------------------------------------------------------------------------ parameters
@dataclass(frozen=True)
class SourceSelector:
    """Which inputs a run touches: outlets (by host and fetch history) and publishers, or everything."""

    names: tuple[str, ...] = ()
    hosts: frozenset[str] = frozenset()
    urls: frozenset[str] = frozenset()
    publishers: frozenset[str] = frozenset()

    @property
    def everything(self) -> bool:
        return not self.names

    def url_wanted(self, url: str | None) -> bool:
        if self.everything:
            return True
        if not url:
            return False
        return url in self.urls or (urlsplit(url).hostname or "").lower() in self.hosts


def day_range(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every day from start to end, both included."""
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def _as_date(value: Any, name: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise BackfillError(f"{name} must be a date like 2024-01-31, not {value!r}") from None


def _outlets(settings: Settings) -> dict[str, Any]:
    """Outlets of the configured sources file by name (empty when none is configured)."""
    if settings.ingest_sources_file is None:
        return {}
    from flows.fetch import load_sources_file  # the fetch flow owns the sources file format

    try:
        return {s.name: s for s in load_sources_file(Path(settings.ingest_sources_file))}
    except ValueError as exc:
        raise BackfillError(f"sources file: {exc}") from None


def _fetched_urls(warehouse: Warehouse, names: set[str]) -> frozenset[str]:
    """Page URLs the fetch flow recorded for these outlets (fetch_state.source_name)."""
    try:
        from flows.fetch_store import FetchStore
    except ImportError:
        try:
            from flows.fetch import FetchStore
        except ImportError:
            return frozenset()
    state = FetchStore(warehouse).state().filter(pl.col("source_name").is_in(list(names)))
    return frozenset(state["url"].to_list()) | frozenset(state["final_url"].drop_nulls().to_list())


def resolve_sources(sources: list[str] | None, settings: Settings, warehouse: Warehouse) -> SourceSelector:
    """Match source names to outlets of the sources file or publishers in the warehouse; raise on unknown ones."""
    names = [s.strip() for s in (sources or []) if s and s.strip()]
    if not names:
        return SourceSelector()
    outlets = _outlets(settings)
    publishers = (
        warehouse.scan("articles").select("publisher").unique().collect()["publisher"].drop_nulls().to_list()
        if warehouse.lake.exists() else []
    )
    by_lower = {p.lower(): p for p in publishers}
    unknown = [n for n in names if n not in outlets and n.lower() not in by_lower]
    if unknown:
        known = sorted(outlets) + sorted(p for p in publishers if p not in outlets)
        listed = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "") if known else "none"
        raise BackfillError(
            f"unknown source {', '.join(repr(n) for n in unknown)}: sources are outlet names from the sources "
            f"file (FPWATCH_INGEST_SOURCES_FILE) or publishers in the warehouse; known: {listed}"
        )
    chosen = [outlets[n] for n in names if n in outlets]
    hosts = {
        (urlsplit(u).hostname or "").lower()
        for s in chosen for u in (*s.feeds, *s.sitemaps, *s.urls)
    }
    return SourceSelector(
        names=tuple(names),
        hosts=frozenset(h for h in hosts if h),
        urls=_fetched_urls(warehouse, {s.name for s in chosen}) if chosen else frozenset(),
        publishers=frozenset(n.lower() for n in names if n.lower() in by_lower),
    )


def plan_days(start: Any, end: Any, mode: Any, settings: Settings) -> list[dt.date]:
    """Validate the date range and mode; return the day partitions to rebuild."""
    start_day, end_day = _as_date(start, "start"), _as_date(end, "end")
    if mode not in MODES:
        raise BackfillError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if end_day < start_day:
        raise BackfillError(f"end ({end_day}) is before start ({start_day})")
    n_days = (end_day - start_day).days + 1
    if n_days > settings.max_backfill_days:
        raise BackfillError(
            f"{start_day}..{end_day} is {n_days} days, over the maximum of {settings.max_backfill_days} "
            "(FPWATCH_MAX_BACKFILL_DAYS): split the range into several backfills"
        )
    return day_range(start_day, end_day)


# ------------------------------------------------------------------------------ ordering
class Turnstile:
    """Lets days pass one at a time in date order: a day waits until every earlier day is done."""

    def __init__(self, days: list[dt.date]):
        self._index = {d: i for i, d in enumerate(sorted(days))}
        self._done: set[int] = set()
        self._cond = threading.Condition()

    def _ready(self, index: int) -> bool:
        return all(i in self._done for i in range(index))

    @contextlib.contextmanager
    def turn(self, day: dt.date) -> Iterator[None]:
        """Wait for the earlier days, run the block, then let the next day in."""
        index = self._index[day]
        with self._cond:
            self._cond.wait_for(lambda: self._ready(index))
        try:
            yield
        finally:
            self.done(day)

    def done(self, day: dt.date) -> None:
        """Mark a day finished (also when it failed), so later days do not wait for it forever."""
        with self._cond:
            self._done.add(self._index[day])
            self._cond.notify_all()


# ------------------------------------------------------------------------------ one day
@dataclass
class DayResult:
    """What rebuilding one day did."""

    day: dt.date
    articles_in: int = 0
    articles_written: int = 0
    duplicates: int = 0
    removed: int = 0
    rejects: list[Reject] = field(default_factory=list)
    partitions: list[dt.date] = field(default_factory=list)
    seconds: float = 0.0


def read_raw_inputs(warehouse: Warehouse, day: dt.date, selector: SourceSelector) -> pl.DataFrame:
    """The stored raw inputs of one day partition (columns of RAW_COLUMNS), limited to the selected sources."""
    path = warehouse.partition_path("raw_inputs", day)
    if not path.exists():
        return pl.DataFrame(schema={c: DOCUMENT_SCHEMA.get(c, pl.Utf8) for c in RAW_COLUMNS})
    raw = pl.read_parquet(path, columns=RAW_COLUMNS).cast({"first_seen_at": DOCUMENT_SCHEMA["first_seen_at"]})
    if selector.everything:
        return raw
    by_url = [selector.url_wanted(u or s) for u, s in zip(raw["url"], raw["source"], strict=True)]
    wanted = pl.Series(by_url, dtype=pl.Boolean)
    if selector.publishers:
        articles = warehouse.partition_path("articles", day)
        ids = (
            pl.read_parquet(articles, columns=["article_id", "publisher"])
            .filter(pl.col("publisher").str.to_lowercase().is_in(list(selector.publishers)))["article_id"]
            if articles.exists() else pl.Series([], dtype=pl.Utf8)
        )
        wanted = wanted | raw["article_id"].is_in(ids.to_list())
    return raw.filter(wanted)


def _refetch_urls(warehouse: Warehouse, day: dt.date, raw: pl.DataFrame, selector: SourceSelector) -> list[str]:
    """Pages to fetch again for a day: its stored pages, and URLs rejected that day (a source was down)."""
    urls = [u for u in raw["url"].drop_nulls().to_list()]
    rejects = warehouse.read("rejects").filter(
        pl.col("source").str.starts_with("http") & (pl.col("rejected_at").dt.date() == day)
    )
    urls += [u for u in rejects["source"].to_list() if selector.url_wanted(u)]
    return list(dict.fromkeys(urls))




def refetch_documents(urls: list[str], settings: Settings) -> tuple[pl.DataFrame, list[Reject]]:
    """Fetch pages again (politely, through the fetch flow's client) into documents; failures are rejects."""
    if not urls:
        return pl.DataFrame(schema=DOCUMENT_SCHEMA), []
    try:
        from flows.fetch import build_fetch_settings
        from flows.http import PoliteClient, run_coroutine
        from transforms.feeds import canonicalize_url
        try:
            from transforms.pages import decode_page
        except ImportError:
            from transforms.feeds import decode_page
    except ImportError as exc:  # the fetch flow is a separate component
        raise BackfillError(f"mode=refetch needs the fetch flow (flows/fetch.py): {exc}") from None
    import hashlib

    fetch_settings = build_fetch_settings(settings, False)

    async def fetch_all() -> list[Any]:
        async with PoliteClient(fetch_settings) as client:
            return await client.fetch_many(urls, expect="html")

    rows, rejects = [], []
    for res in run_coroutine(fetch_all()):
        if res.ok and res.body:
            final = canonicalize_url(res.final_url or res.url) or res.url
            text, _ = decode_page(res.body, res.content_type)
            rows.append({"source": final, "kind": "html", "content": text, "url": final,
                         "raw_sha256": hashlib.sha256(res.body).hexdigest(), "first_seen_at": res.fetched_at})
        else:
            rejects.append(Reject(res.url, res.reason or "empty_body", res.detail))
    docs = pl.DataFrame(rows, schema=DOCUMENT_SCHEMA, orient="row") if rows else pl.DataFrame(schema=DOCUMENT_SCHEMA)
    return docs.unique("source", keep="first", maintain_order=True), rejects


def rebuild_day(
    day: dt.date, mode: str, selector: SourceSelector, settings: Settings, run: RunContext, turnstile: Turnstile
) -> DayResult:
    """Rebuild one day partition: read (or re-fetch) its inputs, transform, then link and write in date order."""
    from flows.pipeline import write_rejects, assign_ids, link_articles, transform_batch, write_tables

    started = time.monotonic()
    warehouse = run.warehouse
    result = DayResult(day)
    try:
        raw = read_raw_inputs(warehouse, day, selector)
        if mode == "refetch":
            docs, fetch_rejects = refetch_documents(_refetch_urls(warehouse, day, raw, selector), settings)
            result.rejects.extend(fetch_rejects)
            result.articles_in += len(fetch_rejects)
        else:
            docs = raw.drop("article_id")
        docs = assign_ids(docs) if docs.height else docs.with_columns(article_id=pl.lit(None, pl.Utf8))
        result.articles_in += docs.height
        batches = [
            transform_batch.fn(docs.slice(offset, settings.batch_size), settings)
            for offset in range(0, docs.height, settings.batch_size)
        ]
    except BaseException:
        turnstile.done(day)
        raise
    for batch in batches:
        result.rejects.extend(batch.rejects)
    day_run = dataclasses.replace(run, rejects=list(result.rejects), partitions=set(), notes=[])
    with turnstile.turn(day), partition_locks(warehouse, [day]):
        articles = pl.concat([b.articles for b in batches], how="diagonal_relaxed") if batches else pl.DataFrame()
        touched: set[dt.date] = set()
        if articles.height:
            signatures = pl.concat([b.signatures for b in batches], how="diagonal_relaxed")
            mentions = pl.concat([b.mentions for b in batches], how="diagonal_relaxed")
            articles, signatures = link_articles.fn(articles, signatures, mentions, warehouse, settings, run.today)
            touched.update(write_tables.fn(articles, batches, signatures, warehouse, day_run))
            result.articles_written = articles.height
            result.duplicates = int(articles["duplicate_of"].is_not_null().sum())
        written = set(articles["article_id"].to_list()) if articles.height else set()
        gone = set(docs["article_id"].to_list()) - written
        if gone:
            # Inputs the current pipeline rejects lose their old articles, mentions and topics; their
            # raw inputs stay, stamped with this version so reprocess does not pick the day again.
            for table in DERIVED_TABLES:
                touched.update(warehouse.replace_rows(table, pl.DataFrame(), remove={day: gone}))
            kept = pl.read_parquet(warehouse.partition_path("raw_inputs", day)) if mode == "reprocess" else None
            if kept is not None:
                kept = kept.filter(pl.col("article_id").is_in(list(gone)))
                warehouse.replace_rows(
                    "raw_inputs", kept.with_columns(run_id=pl.lit(run.run_id), pipeline_version=pl.lit(PIPELINE_VERSION))
                )
            result.removed = len(gone)
        write_rejects(warehouse, day_run, articles["source"].to_list() if articles.height else [])
    result.partitions = sorted(touched)
    result.seconds = round(time.monotonic() - started, 2)
    return result


@task(name="backfill-day", cache_policy=NO_CACHE, task_run_name="{mode}-{day}")
def process_day(
    day: dt.date, mode: str, selector: SourceSelector, settings: Settings, run: RunContext, turnstile: Turnstile
) -> DayResult:
    """One day partition, the unit of work of backfill and reprocess."""
    result = rebuild_day(day, mode, selector, settings, run, turnstile)
    get_run_logger().info(
        "%s %s: %d inputs, %d articles written, %d rejected, %d removed, %.1f s",
        mode, day, result.articles_in, result.articles_written, len(result.rejects), result.removed, result.seconds,
    )
    return result


def process_days(
    days: list[dt.date], mode: str, selector: SourceSelector, settings: Settings, run: RunContext
) -> list[DayResult]:
    """Rebuild days with bounded concurrency; add their counts to `run`; raise if any day failed."""
    logger = get_run_logger()
    turnstile = Turnstile(days)
    results: list[DayResult] = []
    failures: list[str] = []
    started = time.monotonic()
    with ThreadPoolTaskRunner(max_workers=settings.backfill_concurrency) as runner:
        futures = [
            runner.submit(process_day, {"day": d, "mode": mode, "selector": selector, "settings": settings,
                                        "run": run, "turnstile": turnstile})
            for d in sorted(days)
        ]
        for day, future in zip(sorted(days), futures, strict=True):
            try:
                results.append(future.result())
            except Exception as exc:
                failures.append(f"{day} ({type(exc).__name__}: {exc})")
    for res in results:
        run.articles_in += res.articles_in
        run.articles_written += res.articles_written
        run.duplicates += res.duplicates
        run.rejects.extend(res.rejects)
        run.partitions.update(res.partitions)
        if res.removed:
            run.notes.append(f"{res.day}: {res.removed} articles removed (now rejected)")
    logger.info("%d days in %.1f s (%d at a time)", len(days), time.monotonic() - started, settings.backfill_concurrency)
    if failures:
        raise RuntimeError(f"{len(failures)} of {len(days)} days failed: " + "; ".join(failures[:5]))
    return results


# ------------------------------------------------------------------------------ the flow
@flow(name="backfill", log_prints=True)
def backfill_flow(
    start: dt.date,
    end: dt.date,
    sources: list[str] | None = None,
    mode: BackfillMode = "reprocess",
    warehouse: str | None = None,
) -> dict[str, Any]:
    """Rebuild the day partitions from start to end (both included), replacing each one atomically.

    Args:
        start: First day partition to rebuild (YYYY-MM-DD).
        end: Last day partition to rebuild (YYYY-MM-DD), on or after start.
        sources: Only these sources: outlet names from the sources file, or publishers such as
            "Nikkei Asia". Empty: every source.
        mode: reprocess re-runs the transforms over the stored raw inputs (no network);
            refetch downloads the day's pages again, plus the pages rejected that day.
        warehouse: Warehouse directory; empty: the FPWATCH_WAREHOUSE setting.
    """
    settings = get_settings()
    store = Warehouse(warehouse or settings.warehouse)
    days = plan_days(start, end, mode, settings)
    selector = resolve_sources(sources, settings, store)
    store.ensure_catalog()
    params = {"start": days[0].isoformat(), "end": days[-1].isoformat(), "sources": list(selector.names),
              "mode": mode, "warehouse": str(store.root)}
    run = start_run("backfill", params, store)
    try:
        process_days(days, mode, selector, settings, run)
    except Exception as exc:
        fail_run(run, exc)
        raise
    summary = close_run(run, settings)
    summary["days"] = len(days)
    return summary
