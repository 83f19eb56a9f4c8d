"""Fetch state and raw pages: two small lake tables owned by the fetch flow.

    lake/fetch_state/<run_id>-<step>.parquet     append-only: one row per URL event (latest wins)
    lake/fetch_state/data.parquet                compacted at the end of a completed run
    lake/raw_pages/partition_date=D/<run_id>-<batch>.parquet   raw bytes of every fetched page

Every file is written with the warehouse's temp-file-and-rename step, so a reader (or a run
resuming after a kill) sees whole files only.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import polars as pl

from flows.warehouse import Warehouse, _write_atomic

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


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:80]


# --------------------------------------------------------------------------------------------
# State store


class FetchStore:
    """The fetch_state and raw_pages lake tables of one warehouse."""

    def __init__(self, warehouse: Warehouse):
        self.warehouse = warehouse
        self.state_dir = warehouse.lake / STATE_TABLE
        self.raw_dir = warehouse.lake / RAW_TABLE

    def _state_files(self) -> list[Path]:
        return sorted(self.state_dir.glob("*.parquet")) if self.state_dir.exists() else []

    def state(self) -> pl.DataFrame:
        """Latest state row per URL."""
        files = self._state_files()
        if not files:
            return pl.DataFrame(schema=STATE_SCHEMA)
        frame = pl.concat([pl.read_parquet(f).cast(STATE_SCHEMA) for f in files], how="vertical")
        return (frame.sort("updated_at", "seq")
                .unique("url", keep="last", maintain_order=True))

    def write_state(self, rows: list[dict[str, Any]], name: str) -> None:
        """Append state rows as one new file (atomic)."""
        if rows:
            frame = pl.DataFrame(rows, schema=STATE_SCHEMA, orient="row")
            _write_atomic(frame, self.state_dir / f"{_safe_name(name)}.parquet")

    def compact(self) -> int:
        """Merge the state files into data.parquet (latest row per URL); returns the row count."""
        with self.warehouse.lock(STATE_TABLE):
            files = self._state_files()
            if len(files) <= 1:
                return self.state().height
            merged = self.state()
            _write_atomic(merged, self.state_dir / "data.parquet")
            for path in files:
                if path.name != "data.parquet":
                    path.unlink(missing_ok=True)
            return merged.height

    def raw_index(self) -> pl.DataFrame:
        """url -> raw_sha256 and file of every stored raw page (bodies not read)."""
        files = sorted(self.raw_dir.rglob("*.parquet")) if self.raw_dir.exists() else []
        if not files:
            return pl.DataFrame(schema={"url": pl.String, "raw_sha256": pl.String, "file": pl.String})
        return pl.concat([
            pl.read_parquet(f, columns=["url", "raw_sha256"]).with_columns(file=pl.lit(str(f)))
            for f in files
        ]).unique("url", keep="last", maintain_order=True)

    def read_raw(self, index: pl.DataFrame) -> pl.DataFrame:
        """Raw page rows for the (url, file) pairs of ``index``."""
        frames = []
        for file, group in index.group_by("file"):
            frames.append(pl.read_parquet(file[0]).cast(RAW_SCHEMA)
                          .filter(pl.col("url").is_in(group["url"].to_list())))
        return pl.concat(frames) if frames else pl.DataFrame(schema=RAW_SCHEMA)

    def write_raw(self, rows: list[dict[str, Any]], name: str) -> None:
        """Write raw pages, one file per fetch day, atomically."""
        if not rows:
            return
        frame = pl.DataFrame(rows, schema=RAW_SCHEMA, orient="row")
        for (day,), part in frame.group_by("partition_date"):
            target = self.raw_dir / f"partition_date={day.isoformat()}" / f"{_safe_name(name)}.parquet"
            _write_atomic(part, target)
