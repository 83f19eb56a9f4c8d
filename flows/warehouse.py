"""The warehouse: date-partitioned Parquet under `lake/` plus `warehouse.duckdb`, a file of views.

Layout (see DESIGN.md, "Warehouse"):

    <root>/lake/<table>/_schema.parquet                      zero rows: fixes the columns when the table is empty
    <root>/lake/<table>/partition_date=YYYY-MM-DD/data.parquet   partitioned tables (one file a day)
    <root>/lake/<table>/data.parquet                         small whole tables (entities, stories, rejects, ...)
    <root>/lake/runs/<run_id>.parquet                        one file per run, appended
    <root>/warehouse.duckdb                                  views over lake/, comments, macros (analysts: -readonly)

Every file is written to a hidden temporary file in its own directory and moved into place with
`os.replace`, so a reader sees the old file or the new one, never a torn one. Writers of the same
table serialise on a lock file under `<root>/.locks/`; the DuckDB file is only opened for writing
when the catalogue (migrations, views, lake location) changed, never on an ordinary run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import polars as pl

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
PARTITION_COLUMN = "partition_date"
DATA_FILE = "data.parquet"
SCHEMA_FILE = "_schema.parquet"
CATALOG_STATE = "catalog.json"
#: The DuckDB CLI that PyPI serves (duckdb-cli 1.5.6) reads storage up to v1.5; duckdb 2.0 writes a
#: newer one by default (DESIGN.md, known traps), so the analyst file is created in the older format.
STORAGE_VERSION = "v1.5.0"
#: Partition files rewritten at once: Parquet reads, zstd and fsync release the GIL; a backfill of
#: 683 days wrote in 18 s one at a time on this 2-core machine (bench/throughput.py --pipeline).
PARTITION_WRITE_THREADS = 4
#: zstd: ~3x smaller than snappy on article text at similar write speed (DESIGN.md measurements).
PARQUET_COMPRESSION = "zstd"


@dataclass(frozen=True)
class Reject:
    """One input that could not be used: where it came from, a short machine reason, a human detail."""

    source: str
    reason: str
    detail: str = ""


class WarehouseLocked(RuntimeError):
    """warehouse.duckdb is held by another process (an analyst's shell) and must be written."""


@dataclass(frozen=True)
class TableContract:
    """Columns, types and comments of one warehouse table, as declared in sql/schema/."""

    name: str
    comment: str
    schema: pl.Schema
    column_comments: dict[str, str]

    @property
    def partitioned(self) -> bool:
        return PARTITION_COLUMN in self.schema


def _schema_files() -> list[Path]:
    return sorted((SQL_DIR / "schema").glob("[0-9][0-9][0-9]_*.sql"))


def _view_files() -> list[Path]:
    return sorted((SQL_DIR / "views").glob("*.sql"))


@lru_cache(maxsize=1)
def load_contract() -> dict[str, TableContract]:
    """Apply sql/schema/ migrations to an in-memory DuckDB and read back every table's contract."""
    con = duckdb.connect()
    try:
        for path in _schema_files():
            con.execute(path.read_text())
        tables = con.sql(
            "select table_name, comment from duckdb_tables() where database_name = 'memory' order by table_name"
        ).fetchall()
        contracts = {}
        for name, comment in tables:
            schema = con.sql(f'select * from "{name}" limit 0').pl().schema
            cols = con.execute(
                "select column_name, comment from duckdb_columns() where table_name = $t and database_name = 'memory'",
                {"t": name},
            ).fetchall()
            contracts[name] = TableContract(name, comment or "", schema, {c: (m or "") for c, m in cols})
        return contracts
    finally:
        con.close()


def conform(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    """Select and cast `frame` to the contract of `table`; missing columns become typed NULLs."""
    schema = load_contract()[table].schema
    if not frame.width:
        return pl.DataFrame(schema=schema)
    exprs = []
    for name, dtype in schema.items():
        if name in frame.columns:
            exprs.append(pl.col(name).cast(dtype, strict=False))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
    return frame.select(exprs)


def _write_atomic(frame: pl.DataFrame, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        frame.write_parquet(tmp, compression=PARQUET_COMPRESSION, statistics=True)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _fingerprint(parts: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _sql_literal(value: str) -> str:
    """Quote a string as a SQL literal: only for DDL, where DuckDB cannot bind parameters."""
    return "'" + value.replace("'", "''") + "'"


class Warehouse:
    """One warehouse directory: partitioned Parquet tables and the analysts' DuckDB file."""

    def __init__(self, root: Path | str):
        self.root = Path(root).expanduser().resolve()
        self.lake = self.root / "lake"
        self.db_path = self.root / "warehouse.duckdb"

    # ------------------------------------------------------------------ catalogue
    def catalog_fingerprint(self) -> str:
        """Changes when a migration, a view or the lake's location changes."""
        files = _schema_files() + _view_files()
        return _fingerprint([str(self.lake)] + [f"{p.name}:{p.read_text()}" for p in files])

    def ensure_catalog(self, *, strict: bool = False) -> bool:
        """Create schema files and (re)build warehouse.duckdb if the catalogue changed.

        Returns True when warehouse.duckdb is current. When an analyst holds the file open and it
        needs rebuilding, raises WarehouseLocked if `strict`, else logs a warning and returns False:
        data still lands in the lake and the views catch up on the next run.
        """
        self.lake.mkdir(parents=True, exist_ok=True)
        for name in load_contract():
            schema_file = self.lake / name / SCHEMA_FILE
            empty = conform(pl.DataFrame(), name)
            if not schema_file.exists() or pl.read_parquet_schema(schema_file) != dict(empty.schema):
                _write_atomic(empty, schema_file)
        state_path = self.root / CATALOG_STATE
        fingerprint = self.catalog_fingerprint()
        if self.db_path.exists() and state_path.exists():
            with contextlib.suppress(ValueError, OSError):
                if json.loads(state_path.read_text()).get("fingerprint") == fingerprint:
                    return True
        try:
            self._build_catalog()
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            message = (
                f"{self.db_path} is open in another process (an analyst's shell?); its views were not "
                "refreshed. Close it and run `fpwatch migrate` (the data itself was written)."
            )
            if strict:
                raise WarehouseLocked(message) from exc
            log.warning(message)
            return False
        tmp = state_path.with_name(f".{state_path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps({"fingerprint": fingerprint, "lake": str(self.lake)}))
        os.replace(tmp, state_path)
        return True

    def _build_catalog(self) -> None:
        con = duckdb.connect()
        try:
            con.execute(f"attach {_sql_literal(str(self.db_path))} as w (storage_version '{STORAGE_VERSION}')")
            con.execute("use w")
            con.execute(
                "create table if not exists fpwatch_migrations "
                "(version integer primary key, name varchar, applied_at timestamp with time zone)"
            )
            con.execute("comment on table fpwatch_migrations is 'Schema migrations (sql/schema/) recorded when applied.'")
            applied = {v for (v,) in con.sql("select version from fpwatch_migrations").fetchall()}
            for path in _schema_files():
                version = int(path.name[:3])
                if version not in applied:
                    con.execute(
                        "insert into fpwatch_migrations values ($v, $n, now())", {"v": version, "n": path.name}
                    )
            self._create_views(con)
        finally:
            con.close()

    def _create_views(self, con: duckdb.DuckDBPyConnection) -> None:
        for table in load_contract().values():
            pattern = str(self.lake / table.name / "**" / "*.parquet")
            con.execute(
                f'create or replace view "{table.name}" as select * from read_parquet('
                f"{_sql_literal(pattern)}, union_by_name = true, hive_partitioning = false)"
            )
            con.execute(f'comment on view "{table.name}" is {_sql_literal(table.comment)}')
            for column, comment in table.column_comments.items():
                if comment:
                    con.execute(f'comment on column "{table.name}"."{column}" is {_sql_literal(comment)}')
        # Analyst views may build on each other: create in dependency order by retrying failures.
        pending = {p.stem: p.read_text() for p in _view_files()}
        while pending:
            progressed = False
            errors = {}
            for name, text in list(pending.items()):
                try:
                    con.execute(text)
                except duckdb.CatalogException as exc:
                    errors[name] = exc
                    continue
                del pending[name]
                progressed = True
            if not progressed:
                raise RuntimeError(f"cannot create views {sorted(errors)}: {next(iter(errors.values()))}")

    # ------------------------------------------------------------------ locks
    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Exclusive advisory lock shared by every process writing `name` in this warehouse."""
        lock_dir = self.root / ".locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        with open(lock_dir / f"{name}.lock", "a+") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    # ------------------------------------------------------------------ reading
    def files(self, table: str) -> list[Path]:
        """Data files of a table (without the empty schema file)."""
        base = self.lake / table
        return sorted(p for p in base.rglob("*.parquet") if p.name != SCHEMA_FILE) if base.exists() else []

    def scan(self, table: str) -> pl.LazyFrame:
        """A lazy frame over a table's files, conformed to the contract (empty when there are none)."""
        files = self.files(table)
        if not files:
            return conform(pl.DataFrame(), table).lazy()
        frames = [pl.scan_parquet(p) for p in files]
        return pl.concat([f.pipe(_lazy_conform, table) for f in frames], how="vertical")

    def read(self, table: str) -> pl.DataFrame:
        """The whole table as a frame (for small tables and tests)."""
        return self.scan(table).collect()

    def partition_path(self, table: str, day: dt.date) -> Path:
        return self.lake / table / f"{PARTITION_COLUMN}={day.isoformat()}" / DATA_FILE

    # ------------------------------------------------------------------ writing
    def replace_rows(
        self,
        table: str,
        frame: pl.DataFrame,
        *,
        key: str = "article_id",
        remove: dict[dt.date, set[str]] | None = None,
    ) -> list[dt.date]:
        """Upsert rows of a partitioned table: every key in `frame` is replaced in its partition.

        `remove` names keys to delete from other partitions (an article that moved day). Each touched
        partition is rewritten whole with temp-file-and-rename. Returns the partitions written.
        """
        frame = conform(frame, table)
        if frame[PARTITION_COLUMN].null_count():
            raise ValueError(f"{table}: rows without {PARTITION_COLUMN}")
        by_day: dict[dt.date, pl.DataFrame] = {}
        if frame.height:
            for (day,), part in frame.group_by(PARTITION_COLUMN, maintain_order=True):
                by_day[day] = part
        remove = remove or {}
        keys_by_day = {day: set(part[key].to_list()) for day, part in by_day.items()}
        touched = sorted(set(by_day) | set(remove))
        def rewrite(day: dt.date) -> None:
            path = self.partition_path(table, day)
            drop = keys_by_day.get(day, set()) | remove.get(day, set())
            if path.exists():
                old = conform(pl.read_parquet(path), table)
                old = old.filter(~pl.col(key).is_in(list(drop)))
            else:
                old = conform(pl.DataFrame(), table)
            new = pl.concat([old, by_day.get(day, old.clear())], how="vertical")
            _write_atomic(new.sort(key, maintain_order=True), path)

        with self.lock(table), ThreadPoolExecutor(max_workers=PARTITION_WRITE_THREADS) as pool:
            list(pool.map(rewrite, touched))  # list(): re-raise the first error
        return touched

    def replace_whole(self, table: str, frame: pl.DataFrame, *, key: str | list[str]) -> int:
        """Upsert rows of a small whole table by `key`; returns the table's row count afterwards."""
        frame = conform(frame, table)
        path = self.lake / table / DATA_FILE
        keys = [key] if isinstance(key, str) else key
        with self.lock(table):
            old = conform(pl.read_parquet(path), table) if path.exists() else frame.clear()
            merged = pl.concat([old.join(frame.select(keys), on=keys, how="anti", nulls_equal=True), frame])
            _write_atomic(merged.sort(keys, maintain_order=True), path)
        return merged.height

    def delete_whole(self, table: str, column: str, values: Iterable[str]) -> None:
        """Delete rows of a small whole table whose `column` is in `values`."""
        path = self.lake / table / DATA_FILE
        values = list(values)
        if not path.exists() or not values:
            return
        with self.lock(table):
            old = conform(pl.read_parquet(path), table)
            _write_atomic(old.filter(~pl.col(column).is_in(values)), path)

    def append(self, table: str, frame: pl.DataFrame, name: str) -> Path:
        """Add a new file `<name>.parquet` to an append-only table (e.g. one file per run)."""
        path = self.lake / table / f"{name}.parquet"
        _write_atomic(conform(frame, table), path)
        return path


def _lazy_conform(frame: pl.LazyFrame, table: str) -> pl.LazyFrame:
    schema = load_contract()[table].schema
    present = frame.collect_schema().names()
    return frame.select(
        [
            pl.col(n).cast(t, strict=False) if n in present else pl.lit(None, dtype=t).alias(n)
            for n, t in schema.items()
        ]
    )


def connect_readonly(root: Path | str) -> duckdb.DuckDBPyConnection:
    """Open a warehouse's DuckDB file read-only, as an analyst would (works while runs write)."""
    path = Warehouse(root).db_path
    if not path.exists():
        raise FileNotFoundError(f"no warehouse at {path}: run `fpwatch run` first")
    return duckdb.connect(str(path), read_only=True)
