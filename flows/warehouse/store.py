"""The warehouse: every table in one DuckLake catalog (flows/warehouse/lake.py says where it lives).

DuckLake does what fpwatch's hand-written Parquet layout did not: a commit over several tables is
one snapshot, so a reader sees a chunk's articles with their mentions, topics and signatures or
none of them; a killed writer leaves no visible rows (its unreferenced files are removed by
`fpwatch compact`); PostgreSQL catalogs let several machines commit.

- `ensure_catalog()` applies sql/schema/ migrations (recorded in `fpwatch_catalog`), partitions
  the per-day tables by `partition_date`, and (re)creates the analyst views of sql/views/ when
  their text changed. Comments on every table, column and view live in the catalog.
- `transaction()` is one commit; `commit(fn)` retries it with backoff when another writer
  committed first (PostgreSQL: "Transaction conflict"; SQLite: "database is locked").
- `query()` reads a frame from the current snapshot.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import polars as pl

from flows.warehouse.lake import LAKE, LakeError, LakeLocation, connect, resolve_location

log = logging.getLogger(__name__)
T = TypeVar("T")

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
PARTITION_COLUMN = "partition_date"
#: How per-day tables are laid out in files: by month of partition_date. Day folders made ~5,500
#: small files a table-year at 100,000 articles (bench/warehouse.py), and every scan opened all of
#: them; month folders keep files large while a filter on partition_date still prunes whole months
#: from the partition values and days inside a month from the files' min/max statistics.
PARTITIONING = f"year({PARTITION_COLUMN}), month({PARTITION_COLUMN})"
#: Bumped when the layout settings below change, so existing catalogs pick them up.
#: Sort order of data files within a partition (on insert and compaction): tight min/max statistics
#: on entity_id let a query for one entity skip the row groups of others.
SORTING = {"mentions": "entity_id"}
LAYOUT_VERSION = f"{PARTITIONING}; zstd; sorted {sorted(SORTING.items())}"
PARTITIONING_KEY = "partitioning"
#: zstd: ~3x smaller than snappy (DuckLake's default) on article text at similar write speed
#: (DESIGN.md measurements); at 1M articles the snappy lake took 11.8 GB against 7.1 GB of zstd Parquet.
PARQUET_COMPRESSION = "zstd"
#: Records which migrations and view texts the catalog holds (name -> fingerprint).
CATALOG_TABLE = "fpwatch_catalog"
#: One row that every commit replaces. DuckLake detects conflicts per table, and two transactions
#: that both insert a key neither saw (delete found nothing) do not conflict: both rows would
#: stay. Deleting from this table in every commit makes any two concurrent commits conflict, so
#: the later one retries on the new snapshot and its delete-then-insert sees the other's rows.
COMMIT_TOKEN_TABLE = "fpwatch_commit_token"
#: Commit attempts before a conflict is reported as an error: with backoff doubling from 0.2 s
#: (capped at 5 s) that waits ~40 s in all, longer than any chunk commit measured here (< 3 s).
COMMIT_ATTEMPTS = 12
COMMIT_BACKOFF_S = 0.2
COMMIT_BACKOFF_MAX_S = 5.0
#: Words in DuckDB/DuckLake errors that mean "another writer got there first: try again".
RETRYABLE = ("conflict", "database is locked", "database table is locked", "could not serialize", "deadlock")


@dataclass(frozen=True)
class Reject:
    """One input that could not be used: where it came from, a short machine reason, a human detail."""

    source: str
    reason: str
    detail: str = ""


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


def _created_tables(migrations: list[tuple[str, str, Path]]) -> set[str]:
    """Names of the tables the migration files create."""
    return {m.group(1) for _, _, p in migrations
            for m in re.finditer(r"create table (?:if not exists )?(\w+)", p.read_text(), re.I)}


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


def _fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_COLUMN_COMMENT = re.compile(r"^comment on column\s+(\w+)\.(\w+)\s+is\s+'((?:[^']|'')*)'\s*$", re.I | re.S)
_VIEW_COMMENT = re.compile(r"^comment on view\s+(\w+)\s+is\s+'((?:[^']|'')*)'\s*$", re.I | re.S)


def view_statements(text: str) -> list[str]:
    """The statements of a sql/views/ file as DuckLake takes them.

    DuckLake keeps comments on views but not on view columns: the column comments are folded into
    the view's comment as a "Columns:" list, so `duckdb_views().comment` documents every column.
    """
    statements, columns, view_comment = [], [], None
    for statement in duckdb.extract_statements(text):
        query = statement.query.strip().rstrip(";")
        if match := _COLUMN_COMMENT.match(query):
            columns.append(f"{match.group(2)}: {match.group(3)}")
        elif match := _VIEW_COMMENT.match(query):
            view_comment = (match.group(1), match.group(2))
        else:
            statements.append(query)
    if view_comment or columns:
        name = view_comment[0] if view_comment else Path(text).stem
        comment = (view_comment[1] if view_comment else "") + ("\nColumns:\n- " + "\n- ".join(columns) if columns else "")
        statements.append(f"comment on view {name} is '{comment.strip()}'")
    return statements


#: Tables derived in SQL from others (sql/derived/<table>.sql) in the transaction that writes their sources.
DERIVED = ("sentence_country_pairs",)


def derive(cur: duckdb.DuckDBPyConnection, table: str, ids: Iterable[str] | None = None,
           days: Iterable[dt.date] | None = None) -> None:
    """Inside a transaction: add the rows of a derived table for the articles `ids` in `days`
    (None: every stored article). Their old rows must be deleted first (replace_rows does)."""
    if ids is None:
        frame = cur.execute("select distinct article_id from articles").pl()
    else:
        frame = pl.DataFrame({"article_id": list(ids)}, schema={"article_id": pl.Utf8})
    if not frame.height:
        return
    partitions = f"m.{PARTITION_COLUMN} in {date_list(days)}" if days is not None else "true"
    register(cur, _derive_ids=frame)
    cur.execute((SQL_DIR / "derived" / f"{table}.sql").read_text().replace("{partitions}", partitions))


def derive_all(cur: duckdb.DuckDBPyConnection) -> None:
    """Inside a transaction: rebuild every derived table from what the warehouse holds."""
    for table in DERIVED:
        cur.execute(f'delete from "{table}"')
        derive(cur, table)


def is_retryable(exc: BaseException) -> bool:
    """True for errors that mean another writer committed first (safe to run the transaction again)."""
    text = str(exc).lower()
    return isinstance(exc, duckdb.Error) and any(word in text for word in RETRYABLE)


def first_line(exc: BaseException, limit: int = 300) -> str:
    """An error message on one line (DuckDB's carry several; the cause is often on the second)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[:limit] + " ..."


class Warehouse:
    """One warehouse: its DuckLake catalog and data files, and a connection to them per process."""

    def __init__(self, root: Path | str, *, catalog: str | None = None, data_path: str | None = None):
        if catalog is None and data_path is None:
            from flows.settings import get_settings

            settings = get_settings()
            catalog, data_path = settings.catalog, settings.data_path
        self.location: LakeLocation = resolve_location(root, catalog, data_path)
        self.root = self.location.root
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Warehouse({str(self.root)!r}, catalog={self.location.catalog!r})"

    def __getstate__(self) -> dict[str, Any]:  # a connection does not travel to another process
        return {"location": self.location, "root": self.root}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._con = None
        self._lock = threading.Lock()

    @property
    def lake_dir(self) -> Path | None:
        """The local directory of the data files (None on object storage)."""
        return self.location.local_data_dir

    # ------------------------------------------------------------------ connections
    def cursor(self, *, use_lake: bool = True) -> duckdb.DuckDBPyConnection:
        """A connection of its own (own transaction) to this process's attached lake.

        With use_lake, plain table names mean the lake's tables; without, they must be written
        `lake.<table>` (the data checks define scoped temp views under the plain names).
        """
        with self._lock:
            if self._con is None:
                self._con = connect(self.location)
            cur = self._con.cursor()
        if use_lake:
            cur.execute(f"use {LAKE}")
        return cur

    def close(self) -> None:
        """Close this process's connection (it is reopened on the next use)."""
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None

    def query(self, sql: str, params: dict[str, Any] | None = None, **frames: pl.DataFrame) -> pl.DataFrame:
        """Run a read query on the current snapshot; `frames` are registered as tables by name."""
        cur = self.cursor()
        try:
            for name, frame in frames.items():
                cur.register(name, frame.to_arrow())
            return cur.execute(sql, params or {}).pl()
        finally:
            cur.close()

    def read(self, table: str) -> pl.DataFrame:
        """The whole table as a frame, conformed to the contract (for small tables and tests)."""
        return conform(self.query(f'select * from "{table}"'), table) if table in load_contract() else self.query(
            f'select * from "{table}"'
        )

    # ------------------------------------------------------------------ writing
    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One commit: everything done on the yielded connection is visible at once, or not at all."""
        cur = self.cursor()
        try:
            cur.execute("begin transaction")
            try:
                yield cur
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    cur.execute("rollback")
                raise
            cur.execute("commit")
        finally:
            cur.close()

    def commit(
        self, work: Callable[[duckdb.DuckDBPyConnection], T], *, what: str = "commit", tag: dict[str, Any] | None = None,
        token: bool = True,
    ) -> T:
        """Run `work` in one transaction, again with backoff when another writer committed first.

        tag: recorded as the snapshot's commit_extra_info (JSON), with `what` as its commit_message,
        so `ducklake_snapshots('lake')` says which run made which snapshot.
        """
        delay = COMMIT_BACKOFF_S
        extra = json.dumps(tag, sort_keys=True, default=str) if tag else None
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            try:
                with self.transaction() as cur:
                    if token:
                        cur.execute(f"delete from {COMMIT_TOKEN_TABLE}")
                        cur.execute(f"insert into {COMMIT_TOKEN_TABLE} values (now(), $w)", {"w": what[:200]})
                    if extra:
                        cur.execute(f"call {LAKE}.set_commit_message('fpwatch', $m, extra_info => $e)",
                                    {"m": what, "e": extra})
                    return work(cur)
            except duckdb.Error as exc:
                if not is_retryable(exc) or attempt == COMMIT_ATTEMPTS:
                    raise
                wait = min(delay, COMMIT_BACKOFF_MAX_S) * (0.5 + random.random())
                log.warning("%s: %s; retrying in %.1f s (attempt %d/%d)", what, " ".join(str(exc).split()), wait,
                            attempt, COMMIT_ATTEMPTS)
                time.sleep(wait)
                delay *= 2
        raise AssertionError("unreachable")

    def tagged_snapshot(self, tag: dict[str, Any]) -> int | None:
        """The snapshot a commit with this tag made (None when there is none)."""
        extra = json.dumps(tag, sort_keys=True, default=str)
        row = self.query(
            f"select max(snapshot_id) as s from ducklake_snapshots('{LAKE}') where commit_extra_info = $e", {"e": extra}
        )
        return row["s"][0]

    def upsert(self, table: str, frame: pl.DataFrame, *, key: str = "article_id") -> None:
        """One commit: rows of `frame` replace the rows with the same `key` (wherever they are)."""
        self.commit(lambda cur: replace_rows(cur, table, frame, key=key, keys=frame[key].to_list()),
                    what=f"upsert into {table}")

    def append(self, table: str, frame: pl.DataFrame) -> None:
        """One commit: add the rows of `frame` as they are."""
        self.commit(lambda cur: replace_rows(cur, table, frame, key="", keys=[]), what=f"append to {table}")

    # ------------------------------------------------------------------ catalogue
    def exists(self) -> bool:
        """True when the catalog has been created."""
        return self.location.exists()

    def ensure_catalog(self) -> bool:
        """Create the tables, partitioning, comments and views the catalog lacks; True when it changed."""
        wanted = {f"schema:{p.name}": (_fingerprint(p.read_text()), p) for p in _schema_files()}
        views = {f"view:{p.stem}": (_fingerprint(p.read_text()), p) for p in _view_files()}
        def bootstrap(cur: duckdb.DuckDBPyConnection) -> dict[str, str]:
            cur.execute(
                f"create table if not exists {CATALOG_TABLE} "
                "(name varchar, fingerprint varchar, applied_at timestamp with time zone)"
            )
            cur.execute(f"create table if not exists {COMMIT_TOKEN_TABLE} (committed_at timestamp with time zone, what varchar)")
            return dict(cur.execute(f"select name, fingerprint from {CATALOG_TABLE}").fetchall())

        have = self.commit(bootstrap, what="catalog bootstrap", token=False)
        todo_schema = [(k, f, p) for k, (f, p) in wanted.items() if k not in have]
        todo_views = [(k, f, p) for k, (f, p) in views.items() if have.get(k) != f]
        partitioning = have.get(PARTITIONING_KEY) != LAYOUT_VERSION
        if not todo_schema and not todo_views and not partitioning:
            return False

        def apply(cur: duckdb.DuckDBPyConnection) -> None:
            present = {r[0] for r in cur.execute(f"select name from {CATALOG_TABLE}").fetchall()}
            for key, fingerprint, path in todo_schema:
                if key in present:  # another process applied it meanwhile
                    continue
                cur.execute(path.read_text())
                cur.execute(f"insert into {CATALOG_TABLE} values ($n, $f, now())", {"n": key, "f": fingerprint})
            if partitioning or todo_schema:
                cur.execute(f"call {LAKE}.set_option('parquet_compression', '{PARQUET_COMPRESSION}')")
                for table in load_contract().values():
                    if table.partitioned:
                        cur.execute(f'alter table "{table.name}" set partitioned by ({PARTITIONING})')
                for name, order in SORTING.items():
                    cur.execute(f'alter table "{name}" set sorted by ({order})')
                cur.execute(f"delete from {CATALOG_TABLE} where name = $n", {"n": PARTITIONING_KEY})
                cur.execute(f"insert into {CATALOG_TABLE} values ($n, $f, now())",
                            {"n": PARTITIONING_KEY, "f": LAYOUT_VERSION})
            cur.execute(f"comment on table {CATALOG_TABLE} is "
                        "'Migrations (sql/schema/) and analyst views (sql/views/) this catalog holds, with fingerprints.'")
            if any(t in _created_tables(todo_schema) for t in DERIVED):
                derive_all(cur)  # a derived table added to a warehouse that already holds articles
            self._create_views(cur, [p for _, _, p in todo_views])
            for key, fingerprint, _ in todo_views:
                cur.execute(f"delete from {CATALOG_TABLE} where name = $n", {"n": key})
                cur.execute(f"insert into {CATALOG_TABLE} values ($n, $f, now())", {"n": key, "f": fingerprint})

        self.commit(apply, what="catalog migration")
        log.info("catalog updated: %s", ", ".join(k for k, _, _ in todo_schema + todo_views))
        return True

    @staticmethod
    def _create_views(cur: duckdb.DuckDBPyConnection, files: list[Path]) -> None:
        # A failed statement aborts the transaction, so views are created in dependency order:
        # a view that names another view of sql/views/ comes after it.
        texts = {p.stem: p.read_text().replace("create view", "create or replace view", 1) for p in _view_files()}
        wanted = {p.stem for p in files}
        done: set[str] = set()

        def create(name: str, path: tuple[str, ...] = ()) -> None:
            if name in done or name in path:
                return
            for other in texts:
                if other != name and re.search(rf"\b{re.escape(other)}\b", texts[name]):
                    create(other, path + (name,))
            if name in wanted or any(n in wanted for n in path):
                for statement in view_statements(texts[name]):
                    cur.execute(statement)
            done.add(name)

        for name in sorted(texts):
            create(name)

    # ------------------------------------------------------------------ snapshots
    def snapshot_id(self) -> int:
        """The newest snapshot of the lake (what a reader sees now)."""
        cur = self.cursor()
        try:
            return int(cur.execute(f"select max(snapshot_id) from ducklake_snapshots('{LAKE}')").fetchone()[0])
        finally:
            cur.close()


def date_list(days: Iterable[dt.date]) -> str:
    """`(date '2024-01-01', ...)`: a literal IN list of days (`(NULL)`, matching nothing, when empty).

    A literal list lets DuckLake prune partitions and files before reading; a subquery over a
    registered frame does not (a scan then reads every file: ~640,000 articles' bodies for a
    window spread over three years at 1M articles, bench/warehouse.py).
    """
    listed = ", ".join(f"date '{d.isoformat()}'" for d in sorted(set(days)))
    return f"({listed or 'NULL'})"


def register(cur: duckdb.DuckDBPyConnection, **frames: pl.DataFrame) -> None:
    """Make frames readable by name in SQL on `cur` (Arrow, zero copy)."""
    for name, frame in frames.items():
        cur.register(name, frame.to_arrow())


def replace_rows(
    cur: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame, *, key: str, keys: Iterable[str],
    days: Iterable[dt.date] | None = None,
) -> None:
    """Inside a transaction: delete the rows of `keys` (in `days` when partitioned) and insert `frame`."""
    keys = list(dict.fromkeys(keys))
    frame = conform(frame, table)
    name = f"_new_{table}"
    if keys:
        cur.register("_keys", pl.DataFrame({"k": keys}, schema={"k": pl.Utf8}).to_arrow())
        if days is not None and load_contract()[table].partitioned:
            cur.execute(
                f'delete from "{table}" where {PARTITION_COLUMN} in {date_list(days)} '
                f"and {key} in (select k from _keys)"
            )
        else:
            cur.execute(f'delete from "{table}" where {key} in (select k from _keys)')
    if frame.height:
        cur.register(name, frame.to_arrow())
        cur.execute(f'insert into "{table}" by name select * from {name}')
        cur.unregister(name)


def connect_readonly(root: Path | str) -> duckdb.DuckDBPyConnection:
    """Open a warehouse read-only and sandboxed, as an analyst would (safe while runs commit)."""
    from flows.warehouse.lake import connect_analyst

    return connect_analyst(Warehouse(root).location)
