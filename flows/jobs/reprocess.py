"""`reprocess`: re-run the transforms over stored raw inputs, so pipeline improvements reach old data.

Every article's raw input (file text as read, or fetched HTML) is kept in the `raw_inputs` lake
table, partitioned like `articles`. When PIPELINE_VERSION changes, the partitions written by an
older version are rebuilt from it, day by day, with no re-reading of files and no re-fetching.
The day work is backfill's (flows/jobs/backfill.py): chunks of whole days in date order through the one
pipeline, each chunk one commit.

Scheduled nightly by the `reprocess` deployment (only outdated partitions: a no-op when nothing
changed); from the UI, pick a range and untick `only_outdated` to force a rebuild.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
from prefect import flow
from prefect.logging import get_run_logger
from prefect.states import State

from flows.jobs.backfill import BackfillError, _as_date, process_days, refuse, resolve_sources
from flows.pipeline.reports import run_lifecycle
from flows.settings import get_settings
from flows.warehouse.store import Warehouse, date_list
from transforms import PIPELINE_VERSION

#: Tables whose partitions say which pipeline version built a day.
VERSIONED_TABLES = ("articles", "raw_inputs")


def stored_days(warehouse: Warehouse, start: dt.date | None = None, end: dt.date | None = None) -> list[dt.date]:
    """Day partitions holding raw inputs or articles, within start..end when given."""
    frame = warehouse.query(
        """
        select partition_date from raw_inputs where partition_date between $start and $end
        union
        select partition_date from articles where partition_date between $start and $end
        order by 1
        """,
        {"start": start or dt.date.min, "end": end or dt.date.max},
    )
    return frame["partition_date"].to_list()


def outdated_days(warehouse: Warehouse, days: list[dt.date], version: str = PIPELINE_VERSION) -> list[dt.date]:
    """The days among `days` with any article or raw input written by another pipeline version."""
    if not days:
        return []
    stale = warehouse.query(
        " union ".join(
            f"select distinct partition_date from {table} where partition_date in {date_list(days)} "
            "and pipeline_version is distinct from $version"
            for table in VERSIONED_TABLES
        ) + " order by 1",
        {"version": version},
    )
    return stale["partition_date"].to_list()


@flow(name="reprocess", log_prints=True)
def reprocess_flow(
    start: dt.date | None = None,
    end: dt.date | None = None,
    sources: list[str] = [],  # noqa: B006  (a list, not None: no None toggle in the Custom run form)
    only_outdated: bool = True,
    warehouse: str | None = None,
) -> dict[str, Any] | State:
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
    try:  # bad parameters end the run at once, one line as its state message
        start_day = _as_date(start, "start") if start is not None else None
        end_day = _as_date(end, "end") if end is not None else None
        if start_day and end_day and end_day < start_day:
            raise BackfillError(f"end ({end_day}) is before start ({start_day})")
        store.ensure_catalog()
        selector = resolve_sources(sources, settings, store)
    except BackfillError as exc:
        return refuse(exc)
    candidates = stored_days(store, start_day, end_day)
    days = outdated_days(store, candidates) if only_outdated else candidates
    left = days[settings.max_backfill_days:]
    days = days[: settings.max_backfill_days]
    params = {"start": start_day, "end": end_day, "sources": list(selector.names), "only_outdated": only_outdated,
              "warehouse": str(store.root), "pipeline_version": PIPELINE_VERSION}
    with run_lifecycle("reprocess", params, store, settings) as run:
        logger.info("%d of %d stored partitions to rebuild with pipeline %s", len(days), len(candidates), PIPELINE_VERSION)
        if left:
            run.notes.append(
                f"{len(left)} more partitions ({left[0]}..{left[-1]}) left for the next run "
                f"(at most {settings.max_backfill_days} a run, FPWATCH_MAX_BACKFILL_DAYS)"
            )
        if not days:
            run.notes.append("nothing to reprocess: every partition is current")
        if days:
            process_days(days, "reprocess", selector, settings, run)
    summary = run.summary
    summary.update(days=len(days), days_left=len(left))
    return summary
