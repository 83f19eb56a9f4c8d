"""Where the warehouse lives and how a DuckDB connection reaches it: the DuckLake catalog.

The warehouse is one DuckLake catalog (DESIGN.md, "Warehouse"): the catalog database holds the
table list, snapshots, statistics and views; Parquet data files hold the rows.

- Embedded (default): `<warehouse>/catalog.sqlite` (SQLite in WAL mode, so readers are never
  blocked by a commit) with data files under `<warehouse>/lake/`.
- Shared (`FPWATCH_CATALOG`, `FPWATCH_DATA_PATH`): a PostgreSQL catalog that several processes and
  machines commit to, data on a shared directory or an object store (`s3://...`).

This module imports only duckdb and the standard library: `fpwatch sql` reaches an analyst's
answer through it without importing Prefect, Polars or the pipeline.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

#: The name the lake is attached under in every connection (analysts see `lake.articles`, and
#: `use lake` makes plain `articles` work).
LAKE = "lake"
CATALOG_FILE = "catalog.sqlite"
DATA_DIR = "lake"
#: Extensions shipped as PyPI packages for exactly this DuckDB version (DESIGN.md, known traps).
EXTENSIONS = {"sqlite": "sqlite_scanner", "postgres": "postgres_scanner"}


class LakeError(RuntimeError):
    """The catalog cannot be opened (missing, bad setting, extension not installed)."""


@dataclass(frozen=True)
class LakeLocation:
    """A catalog connection string and a data path: everything a client needs to attach the lake."""

    root: Path
    catalog: str  # "sqlite:/abs/catalog.sqlite" or "postgres:<libpq connection string>"
    data_path: str  # directory (ends with /) or object-store URL
    #: The data path is the default one under root: a moved or copied warehouse directory still
    #: opens (the catalog records the path it was created with; file paths inside are relative).
    follows_root: bool = False

    @property
    def kind(self) -> str:
        return self.catalog.split(":", 1)[0]

    @property
    def sqlite_file(self) -> Path | None:
        return Path(self.catalog.split(":", 1)[1]) if self.kind == "sqlite" else None

    @property
    def local_data_dir(self) -> Path | None:
        return None if "://" in self.data_path else Path(self.data_path)

    def exists(self) -> bool:
        """True when the catalog has been created (always assumed for PostgreSQL)."""
        return self.sqlite_file.exists() if self.sqlite_file else True

    def attach_sql(self, *, read_only: bool = False) -> str:
        """The ATTACH statement any DuckDB 1.5.5 client with the ducklake extension can run."""
        options = [f"data_path {_literal(self.data_path)}"]
        if self.follows_root:
            options.append("override_data_path true")
        if read_only:
            options.append("read_only")
        return f"attach {_literal('ducklake:' + self.catalog)} as {LAKE} ({', '.join(options)})"


def resolve_location(root: Path | str, catalog: str | None = None, data_path: str | None = None) -> LakeLocation:
    """The lake of a warehouse directory, or the shared catalog and data path the settings name.

    catalog: None (embedded SQLite under root), a path to a SQLite file, `sqlite:PATH`,
    `postgres:dbname=... host=...`, or a `postgresql://user@host:port/db` URI.
    """
    root = Path(root).expanduser().resolve()
    if not catalog:
        catalog = f"sqlite:{root / CATALOG_FILE}"
    elif catalog.startswith(("postgresql://", "postgres://")):
        catalog = f"postgres:{catalog}"
    elif catalog.startswith("sqlite:"):
        catalog = f"sqlite:{Path(catalog[7:]).expanduser().resolve()}"
    elif not catalog.startswith("postgres:"):
        catalog = f"sqlite:{Path(catalog).expanduser().resolve()}"
    follows_root = not data_path
    if not data_path:
        data_path = str(root / DATA_DIR)
    elif "://" not in data_path:
        data_path = str(Path(data_path).expanduser().resolve())
    if not data_path.endswith("/"):
        data_path += "/"
    return LakeLocation(root, catalog, data_path, follows_root)


def _literal(value: str) -> str:
    """Quote a string as a SQL literal: only for ATTACH/SET, where DuckDB cannot bind parameters."""
    return "'" + value.replace("'", "''") + "'"


def extension_file(name: str) -> Path | None:
    """The extension binary inside its PyPI package (duckdb-extension-<name>), or None."""
    import importlib.util

    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.rglob(f"v{duckdb.__version__}/**/{name}.duckdb_extension")) or sorted(
        folder.rglob(f"{name}.duckdb_extension")
    )
    return files[0] if files else None


def load_extensions(con: duckdb.DuckDBPyConnection, location: LakeLocation) -> None:
    """Load ducklake and the catalog's scanner from their installed packages (never downloaded).

    The signed binaries are loaded straight from the package folder (0.05 s); installing them into
    ~/.duckdb first, as duckdb_extensions.import_extension does, costs 0.3 s per connection.
    """
    wanted = ["ducklake", EXTENSIONS.get(location.kind)]
    if "://" in location.data_path and not location.data_path.startswith("file://"):
        wanted.append("httpfs")
    for name in filter(None, wanted):
        path = extension_file(name)
        if path is None:
            raise LakeError(
                f"DuckDB extension {name} is not installed for duckdb {duckdb.__version__}: "
                f"pip install duckdb-extension-{name.replace('_', '-')}=={duckdb.__version__}"
            )
        try:
            con.execute(f"load {_literal(str(path))}")
        except duckdb.Error as exc:
            raise LakeError(f"cannot load DuckDB extension {name} from {path}: {str(exc).splitlines()[0]}") from exc


def _prepare_sqlite(path: Path) -> None:
    """Put the catalog in WAL mode once: readers then never fail with 'database is locked' mid-commit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30)
    try:
        if db.execute("pragma journal_mode").fetchone()[0].lower() != "wal":
            db.execute("pragma journal_mode=wal")
    finally:
        db.close()


def connect(location: LakeLocation, *, read_only: bool = False, create: bool = True) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the lake attached as `lake` and selected (`use lake`)."""
    if location.sqlite_file is not None:
        if not location.sqlite_file.exists() and (read_only or not create):
            raise LakeError(f"no warehouse at {location.root}: run `fpwatch run` first")
        if not read_only:
            _prepare_sqlite(location.sqlite_file)
    if not read_only and location.local_data_dir is not None:
        location.local_data_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        load_extensions(con, location)
        if not read_only:
            limit_memory(con, location)
        con.execute(location.attach_sql(read_only=read_only))
        con.execute(f"use {LAKE}")
    except duckdb.Error as exc:
        con.close()
        raise LakeError(f"cannot open the lake catalog {location.catalog}: {str(exc).splitlines()[0]}") from exc
    return con


#: DuckDB memory of a writing process (runs, compaction) before it spills to disk. DuckDB's own default
#: is 80% of RAM: `fpwatch compact` of a 1M-article lake took 20 GB of this 24 GB machine (mentions
#: sorted by entity_id in memory) next to the workers of other runs.
DEFAULT_MEMORY_LIMIT = "4GB"


def limit_memory(con: duckdb.DuckDBPyConnection, location: LakeLocation) -> None:
    """Cap DuckDB's memory (FPWATCH_MEMORY_LIMIT) and let it spill to a directory of the warehouse
    (an in-memory DuckDB has no spill directory of its own: without one the cap is an out-of-memory error)."""
    limit = os.environ.get("FPWATCH_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT
    spill = (location.root / "tmp") if location.local_data_dir is not None else Path(tempfile.gettempdir()) / "fpwatch-spill"
    try:
        con.execute(f"set memory_limit = {_literal(limit)}")
    except duckdb.Error as exc:
        raise LakeError(f"FPWATCH_MEMORY_LIMIT={limit!r} is not a memory size DuckDB takes (e.g. 4GB, 512MB)") from exc
    con.execute(f"set temp_directory = {_literal(str(spill))}")


def sandbox(con: duckdb.DuckDBPyConnection, location: LakeLocation) -> None:
    """Close an analyst connection's file access: it reads the lake's data files and nothing else.

    After this the connection cannot read files outside the data path (`read_text('/etc/passwd')`),
    write files anywhere (`copy ... to`), attach other databases or change these settings back.
    """
    allowed = []
    if location.local_data_dir is not None:
        allowed.append(str(location.local_data_dir) + "/")
    con.execute(f"set allowed_directories = [{', '.join(_literal(a) for a in allowed)}]")
    con.execute("set enable_external_access = false")
    con.execute("set lock_configuration = true")


def connect_analyst(location: LakeLocation) -> duckdb.DuckDBPyConnection:
    """A read-only, sandboxed connection for analysts (`fpwatch sql`): safe while runs commit."""
    con = connect(location, read_only=True)
    sandbox(con, location)
    return con


def cli_init_script(location: LakeLocation) -> str:
    """The init file of the DuckDB shell: load the extensions, attach read-only, sandbox, `use lake`."""
    lines = []
    for name in ("ducklake", EXTENSIONS.get(location.kind)):
        path = extension_file(name)
        if path is None:
            raise LakeError(f"DuckDB extension package duckdb-extension-{name.replace('_', '-')} is not installed")
        lines.append(f"load {_literal(str(path))};")
    lines.append(location.attach_sql(read_only=True) + ";")
    lines.append(f"use {LAKE};")
    if location.local_data_dir is not None:
        lines.append(f"set allowed_directories = [{_literal(str(location.local_data_dir) + '/')}];")
    # No lock_configuration here: the shell changes settings of its own after the init file (it fails
    # with "the configuration has been locked"). DuckDB already refuses to re-enable external access
    # or widen allowed_directories once access is off, so the sandbox holds without the lock.
    lines.append("set enable_external_access = false;")
    return "\n".join(lines) + "\n"


def from_environment(root: Path | str | None = None) -> LakeLocation:
    """The lake the FPWATCH_* variables name, read without loading the full settings object."""
    return resolve_location(
        root or os.environ.get("FPWATCH_WAREHOUSE", "data"),
        os.environ.get("FPWATCH_CATALOG") or None,
        os.environ.get("FPWATCH_DATA_PATH") or None,
    )
