"""Lake maintenance (`fpwatch compact`, and the nightly `compact` deployment), on DuckLake's own functions.

Every commit writes new Parquet files (or inlines a few rows in the catalog) and every replaced
article leaves a delete file, so a month of hourly runs is thousands of small files. Compaction:
1. flushes rows inlined in the catalog into Parquet files,
2. merges adjacent small files of each partition and rewrites files that are mostly deleted rows,
3. expires snapshots older than the retention (time travel reaches back that far, no further),
4. deletes the files no snapshot references any more, and files no commit ever referenced (a
   killed writer's leftovers), after a grace period so that no running reader or writer loses one.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from flows.warehouse.lake import LAKE
from flows.warehouse.store import Warehouse, first_line

log = logging.getLogger(__name__)

#: Files scheduled for deletion are kept this long: a reader that started on an older snapshot
#: may still be scanning them (analyst queries here take seconds; an hour is a wide margin).
DELETE_GRACE = dt.timedelta(hours=1)
#: Files in the data path that no commit references are removed after this long: younger ones may
#: belong to a writer that has not committed yet (a chunk commits within minutes of its first file).
ORPHAN_GRACE = dt.timedelta(days=1)


def lake_stats(warehouse: Warehouse) -> dict[str, Any]:
    """Data files, their bytes and the snapshots the catalog holds now."""
    tables = warehouse.query(
        "select table_name from duckdb_tables() where database_name = $db", {"db": LAKE}
    )["table_name"].to_list()
    n_files = n_bytes = 0
    for table in tables:
        row = warehouse.query(
            f"select count(*) as n, coalesce(sum(data_file_size_bytes), 0) as b from ducklake_list_files('{LAKE}', $t)",
            {"t": table},
        )
        n_files += int(row["n"][0])
        n_bytes += int(row["b"][0])
    snapshots = warehouse.query(f"select count(*) as n from ducklake_snapshots('{LAKE}')")["n"][0]
    return {"data_files": n_files, "data_mb": round(n_bytes / 1e6, 2), "snapshots": int(snapshots)}


def compact_warehouse(warehouse: Warehouse, keep_days: int) -> dict[str, Any]:
    """Merge small files, expire snapshots older than `keep_days`, delete unreferenced files; returns figures."""
    warehouse.ensure_catalog()
    started = time.monotonic()
    before = lake_stats(warehouse)
    now = dt.datetime.now(dt.timezone.utc)
    steps = [
        (f"call ducklake_flush_inlined_data('{LAKE}')", {}),
        (f"call ducklake_merge_adjacent_files('{LAKE}')", {}),
        (f"call ducklake_rewrite_data_files('{LAKE}')", {}),
        (f"call ducklake_expire_snapshots('{LAKE}', older_than => $t)", {"t": now - dt.timedelta(days=keep_days)}),
        (f"call ducklake_cleanup_old_files('{LAKE}', older_than => $t)", {"t": now - DELETE_GRACE}),
        (f"call ducklake_delete_orphaned_files('{LAKE}', older_than => $t)", {"t": now - ORPHAN_GRACE}),
    ]
    for sql, params in steps:
        def work(cur, sql=sql, params=params) -> None:
            cur.execute(sql, params).fetchall()

        try:
            # Compaction may not share a transaction with changes (DuckLake refuses it): no commit token.
            warehouse.commit(work, what=sql.split("(")[0].removeprefix("call "), token=False)
        except Exception as exc:
            raise RuntimeError(f"compaction step {sql.split('(')[0]} failed: {first_line(exc)}") from exc
    after = lake_stats(warehouse)
    result = {f"{k}_before": v for k, v in before.items()} | {f"{k}_after": v for k, v in after.items()}
    result["retention_days"] = keep_days
    result["seconds"] = round(time.monotonic() - started, 1)
    log.info("compacted %s: %s", warehouse.root, result)
    return result


def compact_job(warehouse: str | None = None, keep_days: int | None = None) -> dict[str, Any]:
    """Compact the configured warehouse (the body of the `compact` flow, flows/jobs/deployments.py)."""
    from flows.settings import get_settings

    settings = get_settings()
    store = Warehouse(warehouse or settings.warehouse)
    return compact_warehouse(store, settings.snapshot_retention_days if keep_days is None else keep_days)
