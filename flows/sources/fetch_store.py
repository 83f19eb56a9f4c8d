"""Fetch state and raw pages: two warehouse tables owned by the fetch flow (sql/schema/002_fetch.sql).

    fetch_state   one row per URL event (latest wins); `compact` keeps only the latest per URL
    raw_pages     raw bytes of every fetched page, partitioned by fetch day

Every write is one DuckLake commit, so a reader (or a run resuming after a kill) sees whole batches.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl

import duckdb

from flows.warehouse.store import Warehouse, replace_rows

STATE_TABLE = "fetch_state"
RAW_TABLE = "raw_pages"
#: A URL failing transiently (timeout, 429, 5xx) in this many runs is given up.
MAX_TRANSIENT_TRIES = 3
TRANSIENT_REASONS = frozenset({"timeout", "connect_error", "dns_error", "http_error", "http_429",
                               "http_500", "http_502", "http_503", "http_504"})

STATE_SCHEMA = {
    "url": pl.String,            # canonical URL (page, feed or sitemap)
    "kind": pl.String,           # page | feed | sitemap
    "status": pl.String,         # queued | fetched | not_modified | rejected
    "reason": pl.String,         # reject reason when status = rejected
    "detail": pl.String,
    "http_status": pl.Int32,
    "etag": pl.String,
    "last_modified": pl.String,
    "final_url": pl.String,      # canonical URL after redirects (the article's source)
    "raw_sha256": pl.String,
    "source_name": pl.String,    # outlet from the sources file, else null
    "discovered_from": pl.String,
    "tries": pl.Int32,           # runs that failed transiently
    "updated_at": pl.Datetime("us", "UTC"),
    "seq": pl.Int64,             # tie-breaker within one timestamp
    "run_id": pl.String,
}
RAW_SCHEMA = {
    "url": pl.String,
    "final_url": pl.String,
    "http_status": pl.Int32,
    "content_type": pl.String,
    "etag": pl.String,
    "last_modified": pl.String,
    "body": pl.Binary,
    "raw_sha256": pl.String,
    "fetched_at": pl.Datetime("us", "UTC"),
    "run_id": pl.String,
    "partition_date": pl.Date,
}



_SEQ = iter(range(1, 1 << 62))


def state_row(url: str, kind: str, status: str, run_id: str, **values: Any) -> dict[str, Any]:
    """One fetch_state row; unset columns are null."""
    row = {name: None for name in STATE_SCHEMA}
    row.update(url=url, kind=kind, status=status, run_id=run_id, tries=0,
               updated_at=dt.datetime.now(dt.UTC), seq=next(_SEQ))
    row.update(values)
    return row


# --------------------------------------------------------------------------------------------
# State store


class FetchStore:
    """The fetch_state and raw_pages tables of one warehouse."""

    def __init__(self, warehouse: Warehouse):
        self.warehouse = warehouse

    def state(self) -> pl.DataFrame:
        """Latest state row per URL."""
        frame = self.warehouse.query(
            f"select * from {STATE_TABLE} qualify row_number() over (partition by url order by updated_at desc, seq desc) = 1"
        )
        return frame.cast(STATE_SCHEMA) if frame.height else pl.DataFrame(schema=STATE_SCHEMA)

    def write_state(self, rows: list[dict[str, Any]], name: str = "") -> None:
        """Append state rows (one commit)."""
        if rows:
            frame = pl.DataFrame(rows, schema=STATE_SCHEMA, orient="row")
            self.warehouse.commit(lambda cur: _insert(cur, STATE_TABLE, frame), what=f"commit of fetch state {name}")

    def compact(self) -> int:
        """Keep only the latest state row per URL; returns the row count."""
        def work(cur: duckdb.DuckDBPyConnection) -> int:
            cur.execute(
                f"""
                delete from {STATE_TABLE} where (url, updated_at, seq) not in (
                    select (url, updated_at, seq) from {STATE_TABLE}
                    qualify row_number() over (partition by url order by updated_at desc, seq desc) = 1
                )
                """
            )
            return int(cur.execute(f"select count(*) from {STATE_TABLE}").fetchone()[0])

        return self.warehouse.commit(work, what="fetch state compaction")

    def read_raw(self, urls: list[str]) -> pl.DataFrame:
        """The newest stored raw page of each of `urls` (URLs never fetched are absent)."""
        if not urls:
            return pl.DataFrame(schema=RAW_SCHEMA)
        frame = self.warehouse.query(
            f"""
            select * from {RAW_TABLE} where url in (select url from _urls)
            qualify row_number() over (partition by url order by fetched_at desc) = 1
            """,
            _urls=pl.DataFrame({"url": urls}, schema={"url": pl.Utf8}),
        )
        return frame.select(list(RAW_SCHEMA)).cast(RAW_SCHEMA) if frame.height else pl.DataFrame(schema=RAW_SCHEMA)

    def write_raw(self, rows: list[dict[str, Any]], name: str = "") -> None:
        """Store raw pages (one commit)."""
        if rows:
            frame = pl.DataFrame(rows, schema=RAW_SCHEMA, orient="row")
            self.warehouse.commit(lambda cur: _insert(cur, RAW_TABLE, frame), what=f"commit of raw pages {name}")


def _insert(cur: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    replace_rows(cur, table, frame, key="url", keys=[])
