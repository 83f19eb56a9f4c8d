"""`reprocess`: re-run the transforms over stored raw inputs, so pipeline improvements reach old data.

Every article's raw input (file text as read, or fetched HTML) is kept in the `raw_inputs` lake
table, partitioned like `articles`. When PIPELINE_VERSION changes, the partitions written by an
older version are rebuilt from it, day by day, with no re-reading of files and no re-fetching.
The day work is backfill's (flows/backfill.py): one task run per day, bounded concurrency, writes
in date order under the day's partition lock.

Scheduled nightly by the `reprocess` deployment (only outdated partitions: a no-op when nothing
changed); from the UI, pick a range and untick `only_outdated` to force a rebuild.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
from prefect import flow
from prefect.logging import get_run_logger

from flows.backfill import BackfillError, _as_date, process_days, resolve_sources
from flows.reports import close_run, fail_run
from flows.runs import start_run
from flows.settings import get_settings
from flows.warehouse import DATA_FILE, PARTITION_COLUMN, Warehouse
from transforms import PIPELINE_VERSION

#: Tables whose partitions say which pipeline version built a day.
VERSIONED_TABLES = ("articles", "raw_inputs")


def stored_days(warehouse: Warehouse, start: dt.date | None = None, end: dt.date | None = None) -> list[dt.date]:
    """Day partitions holding raw inputs or articles, within start..end when given."""
    days: set[dt.date] = set()
    for table in VERSIONED_TABLES:
        base = warehouse.lake / table
        for path in base.glob(f"{PARTITION_COLUMN}=*/{DATA_FILE}") if base.exists() else []:
            days.add(dt.date.fromisoformat(path.parent.name.split("=", 1)[1]))
    return sorted(d for d in days if (start is None or d >= start) and (end is None or d <= end))


def outdated_days(warehouse: Warehouse, days: list[dt.date], version: str = PIPELINE_VERSION) -> list[dt.date]:
    """The days among `days` with any article or raw input written by another pipeline version."""
    wanted = set(days)
    stale: set[dt.date] = set()
    for table in VERSIONED_TABLES:
        files = [warehouse.partition_path(table, d) for d in sorted(wanted - stale)]
        files = [f for f in files if f.exists()]
        if not files:
            continue
        versions = (
            pl.scan_parquet(files, hive_partitioning=False)
            .select(PARTITION_COLUMN, "pipeline_version")
            .filter(pl.col("pipeline_version").ne_missing(version))
            .select(PARTITION_COLUMN)
            .unique()
            .collect()
        )
        stale.update(versions[PARTITION_COLUMN].to_list())
    return sorted(stale & wanted)


@flow(name="reprocess", log_prints=True)
def reprocess_flow(
    start: dt.date | None = None,
    end: dt.date | None = None,
    sources: list[str] | None = None,
    only_outdated: bool = True,
    warehouse: str | None = None,
) -> dict[str, Any]:
    """Re-run the transforms over stored raw inputs for the partitions an older pipeline wrote.

    Args:
        start: First day partition to consider (YYYY-MM-DD); empty: the oldest stored.
        end: Last day partition to consider (YYYY-MM-DD); empty: the newest stored.
        sources: Only these sources: outlet names from the sources file, or publishers. Empty: all.
        only_outdated: Rebuild only partitions written by another pipeline version; untick to
            rebuild every stored partition in the range.
        warehouse: Warehouse directory; empty: the FPWATCH_WAREHOUSE setting.
    """
    settings = get_settings()
    logger = get_run_logger()
    store = Warehouse(warehouse or settings.warehouse)
    start_day = _as_date(start, "start") if start is not None else None
    end_day = _as_date(end, "end") if end is not None else None
    if start_day and end_day and end_day < start_day:
        raise BackfillError(f"end ({end_day}) is before start ({start_day})")
    selector = resolve_sources(sources, settings, store)
    candidates = stored_days(store, start_day, end_day)
    days = outdated_days(store, candidates) if only_outdated else candidates
    left = days[settings.max_backfill_days:]
    days = days[: settings.max_backfill_days]
    store.ensure_catalog()
    params = {"start": start_day, "end": end_day, "sources": list(selector.names), "only_outdated": only_outdated,
              "warehouse": str(store.root), "pipeline_version": PIPELINE_VERSION}
    run = start_run("reprocess", params, store)
    logger.info("%d of %d stored partitions to rebuild with pipeline %s", len(days), len(candidates), PIPELINE_VERSION)
    if left:
        run.notes.append(
            f"{len(left)} more partitions ({left[0]}..{left[-1]}) left for the next run "
            f"(at most {settings.max_backfill_days} a run, FPWATCH_MAX_BACKFILL_DAYS)"
        )
    if not days:
        run.notes.append("nothing to reprocess: every partition is current")
    try:
        if days:
            process_days(days, "reprocess", selector, settings, run)
    except Exception as exc:
        fail_run(run, exc)
        raise
    summary = close_run(run, settings)
    summary.update(days=len(days), days_left=len(left))
    return summary
