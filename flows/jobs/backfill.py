"""`backfill`: rebuild a date range of day partitions, from stored raw inputs or by re-fetching.

The days' inputs go through the one pipeline (flows/pipeline/process.py) in date order, as chunks of whole
days (about `Settings.chunk_size` inputs each): transform batches run in worker processes, and each
chunk is linked and committed as one transaction, so duplicates and stories are found against
earlier days exactly as an incremental run would find them, and a reader sees a chunk whole or not
at all. Inputs are re-transformed even when unchanged; an input the pipeline now rejects loses its
articles, mentions and topics (its raw input stays). Re-running a backfill gives the same rows.

Parameters are validated before anything is written: end before start, a range over
`Settings.max_backfill_days`, a range entirely in the future, an unknown mode or source end the
run at once as Failed with one clear line (the state message; no traceback). A range that ends
after today is cut at today, with a warning.

On a work pool (`fpwatch deploy`), a backfill over more than `Settings.backfill_chunk_days` days fans
out: chunks of days become child flow runs of the backfill-chunk deployment (`run_deployment`),
throttled by its concurrency limit (`Settings.backfill_concurrency`) and run by whichever workers
of the pool are free; the parent waits, starts a failed chunk once more, and publishes one report
artifact with a row per chunk. Served (`fpwatch serve`) or called in-process (`fpwatch backfill`),
the days run in this process as before.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import polars as pl
from prefect import flow
from prefect.logging import get_run_logger
from prefect.states import Failed, State

from flows.sources.files import DOCUMENT_SCHEMA
from flows.pipeline.process import process_documents
from flows.pipeline.reports import run_lifecycle
from flows.pipeline.runs import RunContext
from flows.settings import Settings, get_settings
from flows.warehouse.store import Reject, Warehouse

MODES = ("reprocess", "refetch")
BackfillMode = Literal["reprocess", "refetch"]
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
    from flows.sources.fetch import load_sources_file  # the fetch flow owns the sources file format

    try:
        return {s.name: s for s in load_sources_file(Path(settings.ingest_sources_file))}
    except ValueError as exc:
        raise BackfillError(f"sources file: {exc}") from None


def _fetched_urls(warehouse: Warehouse, names: set[str]) -> frozenset[str]:
    """Page URLs the fetch flow recorded for these outlets (fetch_state.source_name)."""
    try:
        from flows.sources.fetch_store import FetchStore
    except ImportError:
        try:
            from flows.sources.fetch import FetchStore
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
        warehouse.query("select distinct publisher from articles where publisher is not null")["publisher"].to_list()
        if warehouse.exists() else []
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


def utc_today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def plan_days(start: Any, end: Any, mode: Any, settings: Settings, today: dt.date | None = None) -> list[dt.date]:
    """Validate the date range and mode; return the day partitions to rebuild (none after `today`, UTC).

    A range entirely after today is refused (there is nothing to rebuild: a green run that did
    nothing would hide the typo); a range that ends after today stops at today.
    """
    start_day, end_day = _as_date(start, "start"), _as_date(end, "end")
    today = today or utc_today()
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
    if start_day > today:
        raise BackfillError(
            f"{start_day}..{end_day} is entirely in the future (today is {today}, UTC): there is nothing to rebuild"
        )
    return day_range(start_day, min(end_day, today))


def chunk_days(days: list[dt.date], size: int) -> list[list[dt.date]]:
    """Consecutive runs of `size` days (the last one shorter), in date order."""
    return [days[i:i + size] for i in range(0, len(days), size)]


# ------------------------------------------------------------------------------ reading days
def read_raw_inputs(warehouse: Warehouse, day: dt.date, selector: SourceSelector) -> pl.DataFrame:
    """The stored raw inputs of one day partition (columns of RAW_COLUMNS), limited to the selected sources."""
    raw = warehouse.query(
        f"select {', '.join(RAW_COLUMNS)} from raw_inputs where partition_date = $day order by article_id", {"day": day}
    )
    raw = raw.cast({"first_seen_at": DOCUMENT_SCHEMA["first_seen_at"]}) if raw.height else pl.DataFrame(
        schema={c: DOCUMENT_SCHEMA.get(c, pl.Utf8) for c in RAW_COLUMNS}
    )
    if selector.everything or raw.is_empty():
        return raw
    by_url = [selector.url_wanted(u or s) for u, s in zip(raw["url"], raw["source"], strict=True)]
    wanted = pl.Series(by_url, dtype=pl.Boolean)
    if selector.publishers:
        ids = warehouse.query(
            "select article_id from articles where partition_date = $day and lower(publisher) in "
            "(select p from _publishers)", {"day": day},
            _publishers=pl.DataFrame({"p": sorted(selector.publishers)}, schema={"p": pl.Utf8}),
        )["article_id"]
        wanted = wanted | raw["article_id"].is_in(ids.to_list())
    return raw.filter(wanted)


def _refetch_urls(warehouse: Warehouse, day: dt.date, raw: pl.DataFrame, selector: SourceSelector) -> list[str]:
    """Pages to fetch again for a day: its stored pages, and URLs rejected that day (a source was down)."""
    urls = [u for u in raw["url"].drop_nulls().to_list()]
    rejects = warehouse.query(
        "select source from rejects where starts_with(source, 'http') and cast(rejected_at at time zone 'UTC' as date) = $day",
        {"day": day},
    )
    urls += [u for u in rejects["source"].to_list() if selector.url_wanted(u)]
    return list(dict.fromkeys(urls))


def refetch_documents(urls: list[str], settings: Settings) -> tuple[pl.DataFrame, list[Reject]]:
    """Fetch pages again (politely, through the fetch flow's client) into documents; failures are rejects."""
    if not urls:
        return pl.DataFrame(schema=DOCUMENT_SCHEMA), []
    try:
        from flows.sources.fetch import build_fetch_settings
        from flows.sources.http import PoliteClient, run_coroutine
        from transforms.feeds import canonicalize_url
        try:
            from transforms.pages import decode_page
        except ImportError:
            from transforms.feeds import decode_page
    except ImportError as exc:  # the fetch flow is a separate component
        raise BackfillError(f"mode=refetch needs the fetch flow (flows/sources/fetch.py): {exc}") from None
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


def day_documents(
    days: list[dt.date], mode: str, selector: SourceSelector, settings: Settings, run: RunContext
) -> Iterator[pl.DataFrame]:
    """The documents of `days` in date order, as chunks of whole days (about `settings.chunk_size` inputs).

    Days stay in date order, so duplicates and stories are found against earlier days exactly as
    incremental runs would have found them.
    """
    logger = get_run_logger()
    buffer: list[pl.DataFrame] = []
    held = 0
    for day in sorted(days):
        raw = read_raw_inputs(run.warehouse, day, selector)
        if mode == "refetch":
            docs, rejects = refetch_documents(_refetch_urls(run.warehouse, day, raw, selector), settings)
            run.rejects.extend(rejects)
            run.articles_in += len(rejects)
        else:
            docs = raw.drop("article_id")
        logger.info("%s %s: %d inputs", mode, day, docs.height)
        buffer.append(docs)
        held += docs.height
        if held >= settings.chunk_size:
            yield pl.concat(buffer, how="vertical_relaxed")
            buffer, held = [], 0
    if buffer:
        yield pl.concat(buffer, how="vertical_relaxed")


def process_days(
    days: list[dt.date], mode: str, selector: SourceSelector, settings: Settings, run: RunContext
) -> None:
    """Rebuild days through the one pipeline (inputs re-transformed even when unchanged); counts go to `run`."""
    started = time.monotonic()
    process_documents(day_documents(days, mode, selector, settings, run), settings=settings, run=run, force=True)
    get_run_logger().info("%d days in %.1f s", len(days), time.monotonic() - started)


# ------------------------------------------------------------------------------ the flows
def refuse(exc: Exception) -> State:
    """End the flow run Failed with the one-line reason as its message (no traceback logged).

    Called in-process, the flow raises `exc` itself (the CLI prints its one line, exit 2).
    """
    get_run_logger().error("refused: %s", exc)
    return Failed(message=str(exc), data=exc)


def _validated(start: Any, end: Any, sources: list[str] | None, mode: Any, warehouse: str | None,
               settings: Settings) -> tuple[list[dt.date], SourceSelector, Warehouse]:
    store = Warehouse(warehouse or settings.warehouse)
    days = plan_days(start, end, mode, settings)
    requested_end = _as_date(end, "end")
    if days[-1] < requested_end:
        get_run_logger().warning(
            "%s..%s ends in the future: rebuilding up to today (%s), the later days have no data yet",
            days[0], requested_end, days[-1],
        )
    store.ensure_catalog()
    return days, resolve_sources(sources, settings, store), store


def run_days_here(days: list[dt.date], mode: str, selector: SourceSelector, store: Warehouse,
                  settings: Settings) -> dict[str, Any]:
    """Rebuild `days` in this process: one `runs` row, data checks and report (today's behaviour)."""
    params = {"start": days[0].isoformat(), "end": days[-1].isoformat(), "sources": list(selector.names),
              "mode": mode, "warehouse": str(store.root)}
    with run_lifecycle("backfill", params, store, settings) as run:
        process_days(days, mode, selector, settings, run)
    summary = run.summary
    summary["days"] = len(days)
    return summary


@flow(name="backfill", log_prints=True)
def backfill_flow(
    start: dt.date,
    end: dt.date,
    sources: list[str] = [],  # noqa: B006  (a list, not None: the Custom run form shows no None toggle)
    mode: BackfillMode = "reprocess",
    warehouse: str | None = None,
) -> dict[str, Any] | State:
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
    return rebuild_days(start, end, sources, mode, warehouse, may_fan_out=True)


@flow(name="backfill-chunk", log_prints=True)
def backfill_chunk_flow(
    start: dt.date,
    end: dt.date,
    sources: list[str] = [],  # noqa: B006
    mode: BackfillMode = "reprocess",
    warehouse: str | None = None,
) -> dict[str, Any] | State:
    """Rebuild the days of one chunk of a fanned-out backfill (started by the backfill flow).

    Args:
        start: First day partition of the chunk (YYYY-MM-DD).
        end: Last day partition of the chunk (YYYY-MM-DD).
        sources: Only these sources (as the backfill's). Empty: every source.
        mode: reprocess or refetch (as the backfill's).
        warehouse: Warehouse directory; empty: the FPWATCH_WAREHOUSE setting.
    """
    return rebuild_days(start, end, sources, mode, warehouse, may_fan_out=False)


def rebuild_days(start: Any, end: Any, sources: list[str] | None, mode: Any, warehouse: str | None, *,
                 may_fan_out: bool) -> dict[str, Any] | State:
    """The body of both backfill flows: bad parameters refused at once, then the days fanned out over the
    work pool (may_fan_out, on a pool, more than one chunk of days) or rebuilt in this process."""
    settings = get_settings()
    try:
        days, selector, store = _validated(start, end, sources, mode, warehouse, settings)
    except BackfillError as exc:
        return refuse(exc)
    if may_fan_out and len(days) > settings.backfill_chunk_days and _work_pool_of_this_run():
        from flows.jobs.fanout import fan_out

        return fan_out(days, list(selector.names), mode, settings, warehouse)
    return run_days_here(days, mode, selector, store, settings)


def _work_pool_of_this_run() -> str | None:
    """The work pool this flow run came from (None: served by `fpwatch serve`, or called in-process)."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    run = context.flow_run if context else None
    return run.work_pool_name if run is not None and run.deployment_id else None
