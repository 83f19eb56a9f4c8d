"""`fpwatch migrate`: bring a warehouse to the current DuckLake catalog, converting the old layout.

Before DuckLake, fpwatch wrote its own Parquet layout: `lake/<table>/partition_date=D/data.parquet`
(or `lake/<table>/*.parquet`) plus `warehouse.duckdb`, a file of views. Migrating moves those files
aside to `legacy-<time>/` first (a rename: nothing is copied twice), then copies every table into the
catalog in one transaction, so the new warehouse has all the old rows or, if anything fails, none
(run `fpwatch migrate` again: it picks the moved files up). Row counts are checked table by table.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from flows.warehouse.lake import DATA_DIR
from flows.warehouse.store import Warehouse, derive_all, load_contract

#: Files of the old layout that are not tables (moved aside with the tables).
LEGACY_FILES = ("warehouse.duckdb", "warehouse.duckdb.wal", "catalog.json", ".locks")
LEGACY_PREFIX = "legacy-"
#: Marks a legacy folder whose rows are not committed yet (removed after the commit).
PENDING = "MIGRATION_PENDING"


class MigrationError(RuntimeError):
    """The old warehouse could not be converted; nothing was committed."""


def legacy_tables(folder: Path) -> dict[str, Path]:
    """Tables of the old layout in `folder` (lake/<table>/ directories holding Parquet files)."""
    out = {}
    for name in load_contract():
        path = folder / name
        if path.is_dir() and any(path.rglob("*.parquet")):
            out[name] = path
    return out


def _move_aside(root: Path) -> Path | None:
    """Move the old layout's files to a legacy folder; returns it (None when there is nothing old)."""
    pending = sorted(p for p in root.glob(f"{LEGACY_PREFIX}*") if (p / PENDING).exists())
    if pending:  # an earlier migration moved the files and failed before committing
        return pending[-1]
    tables = legacy_tables(root / DATA_DIR)
    extras = [root / name for name in LEGACY_FILES if (root / name).exists()]
    if not tables and not extras:
        return None
    target = root / f"{LEGACY_PREFIX}{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}"
    target.mkdir()
    (target / PENDING).write_text("rows of this folder are not in the DuckLake catalog yet: run fpwatch migrate\n")
    for name, path in tables.items():
        path.rename(target / name)
    for path in extras:
        path.rename(target / path.name)
    return target


def _columns(cur: duckdb.DuckDBPyConnection, pattern: str) -> list[str]:
    rows = cur.execute("describe select * from read_parquet($p, union_by_name = true, hive_partitioning = false)",
                       {"p": pattern}).fetchall()
    return [r[0] for r in rows]


def migrate_warehouse(warehouse: Warehouse) -> list[str]:
    """Create or update the catalog; convert an old-layout warehouse row for row. Returns report lines."""
    root = warehouse.root
    root.mkdir(parents=True, exist_ok=True)
    legacy = _move_aside(root)
    changed = warehouse.ensure_catalog()
    lines = [f"catalog {'updated' if changed else 'up to date'}: {warehouse.location.catalog}"]
    if legacy is None:
        return lines
    tables = legacy_tables(legacy)
    counts: dict[str, int] = {}

    def work(cur: duckdb.DuckDBPyConnection) -> None:
        for name, path in tables.items():
            pattern = str(path / "**" / "*.parquet")
            wanted = list(load_contract()[name].schema)
            columns = [c for c in _columns(cur, pattern) if c in wanted]
            listed = ", ".join(f'"{c}"' for c in columns)
            existing = cur.execute(f'select count(*) from "{name}"').fetchone()[0]
            if existing:
                raise MigrationError(f"table {name} already holds {existing} rows: migrate into an empty catalog")
            cur.execute(
                f'insert into "{name}" ({listed}) select {listed} from read_parquet($p, union_by_name = true, '
                "hive_partitioning = false)", {"p": pattern},
            )
            stored = cur.execute(f'select count(*) from "{name}"').fetchone()[0]
            source = cur.execute("select count(*) from read_parquet($p, union_by_name = true, hive_partitioning = false)",
                                 {"p": pattern}).fetchone()[0]
            if stored != source:
                raise MigrationError(f"table {name}: {source} rows in the old files but {stored} copied")
            counts[name] = stored
        derive_all(cur)  # tables the old layout did not have, derived from the rows just copied

    try:
        warehouse.commit(work, what="migration from the Parquet layout", tag={"migrated_from": str(legacy)})
    except (duckdb.Error, MigrationError) as exc:
        raise MigrationError(
            f"migration failed, nothing was committed ({str(exc).splitlines()[0]}); the old files are in {legacy}"
        ) from exc
    (legacy / PENDING).unlink()
    lines += [f"{name}: {n} rows copied" for name, n in sorted(counts.items())]
    lines.append(f"old layout moved to {legacy} (delete it once you have checked the warehouse)")
    return lines
