"""The `fpwatch` command: thin subcommands over the flows and the warehouse."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

#: Statement kinds `fpwatch sql` runs (SELECT covers describe, show, summarize, pragma and from-first
#: queries); COPY, EXPORT, ATTACH, SET, LOAD, CALL, INSERT and the rest are refused before running.
READ_STATEMENTS = frozenset({"SELECT", "EXPLAIN"})

app = typer.Typer(
    help="fpwatch: foreign-policy news into a queryable DuckDB warehouse.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)

WarehouseOpt = Annotated[
    Optional[Path],
    typer.Option("--warehouse", "-w", help="Warehouse directory [env FPWATCH_WAREHOUSE, default ./data]."),
]


def _location(warehouse: Path | None):
    """Where the lake is (settings, or --warehouse), without opening anything."""
    from flows.warehouse.lake import resolve_location
    from flows.settings import get_settings

    settings = get_settings()
    return resolve_location(warehouse or settings.warehouse, settings.catalog, settings.data_path)


class _TracebacksToLog:
    """A logging filter: tracebacks go to a log file instead of the screen (unless --debug)."""

    def __init__(self, guard: "_Guard"):
        self.guard = guard

    @property
    def path(self) -> Path:
        return self.guard.path

    @path.setter
    def path(self, value: Path) -> None:
        self.guard.path = value

    def filter(self, record) -> bool:
        import logging
        import traceback

        if record.exc_info and not _DEBUG:
            _write_log(self, f"{logging.Formatter().formatTime(record)} {record.name}: {record.getMessage()}\n"
                       + "".join(traceback.format_exception(*record.exc_info)) + "\n")
            record.exc_info = None
            record.exc_text = None
        return True


def _log_path(warehouse: Path | None) -> Path:
    import datetime as dt

    try:
        root = _location(warehouse).root
    except Exception:  # bad settings: the log still goes under the warehouse the environment names
        root = Path(os.environ.get("FPWATCH_WAREHOUSE") or "data").expanduser().resolve()
    return root / "logs" / f"fpwatch-{dt.datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}.log"


def _write_log(holder, text: str) -> None:
    """Append to the holder's log file; when that fails (a full disk is one reason to be here), use the temp dir."""
    import tempfile

    for path in (holder.path, Path(tempfile.gettempdir()) / "fpwatch-logs" / holder.path.name):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a") as fh:
                fh.write(text)
            holder.path = path
            return
        except OSError:
            continue


class _Guard:
    """Run a flow command: on failure print one line (what failed, where the traceback is) and exit 1."""

    def __init__(self, what: str, warehouse: Path | None):
        self.what = what
        self.path = _log_path(warehouse)
        self.filter = _TracebacksToLog(self)

    def __enter__(self) -> "_Guard":
        import logging

        from pydantic import ValidationError

        from flows.settings import get_settings

        try:  # bad settings fail here, in one line, before Prefect starts
            get_settings()
        except ValidationError as exc:
            problems = "; ".join(
                f"FPWATCH_{'_'.join(str(p) for p in e['loc']).upper()}={e.get('input')!r}: {e['msg']}"
                for e in exc.errors()
            )
            _fail(f"bad setting: {problems}", 2)

        # Prefect logs a flow's exception with its traceback on the console; keep it for the log file.
        import prefect.logging  # noqa: F401  (sets up Prefect's handlers)

        for logger in [logging.getLogger(), logging.getLogger("prefect")]:
            for handler in logger.handlers:
                handler.addFilter(self.filter)
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        import traceback

        if exc is None or isinstance(exc, (typer.Exit, SystemExit)):
            return False
        if isinstance(exc, KeyboardInterrupt):
            console.print(f"[red]error:[/red] {self.what} interrupted; committed chunks are kept, run it again to finish")
            raise typer.Exit(130)
        if _DEBUG:
            return False
        _write_log(self, "".join(traceback.format_exception(kind, exc, tb)))
        first = " ".join(str(exc).split()) or type(exc).__name__
        if len(first) > 400:
            first = first[:400] + " ..."
        console.print(f"[red]error:[/red] {self.what} failed: {type(exc).__name__}: {first} (details: {self.path})",
                      soft_wrap=True)
        raise typer.Exit(_exit_code(exc))


def _exit_code(exc: BaseException) -> int:
    from pydantic import ValidationError

    name = type(exc).__name__
    if isinstance(exc, ValidationError) or name in {"BackfillError", "SourcesError", "LakeError"}:
        return 2
    if name == "DataChecksFailed":
        return 3
    return 1


_DEBUG = bool(os.environ.get("FPWATCH_DEBUG"))


def _fail(message: str, code: int = 1) -> None:
    console.print(f"[red]error:[/red] {message}", soft_wrap=True)
    raise typer.Exit(code)


@app.command()
def run(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Files or folders (.txt, .html, .htm). Default: seeds/")] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Load article files, run the whole pipeline and write the warehouse.

    Example: fpwatch run seeds/ --warehouse data
    """
    with _Guard("run", warehouse):
        from flows.jobs.run import run_flow

        summary = run_flow(paths=[str(p) for p in paths] if paths else None,
                           warehouse=str(warehouse) if warehouse else None)
    table = Table(title=f"fpwatch run {summary['run_id']}", show_header=False)
    for label, key in [
        ("articles in", "articles_in"), ("articles written", "articles_written"), ("duplicates", "duplicates"),
        ("rejected", "rejects"), ("seconds", "seconds"), ("warehouse", "warehouse"),
    ]:
        table.add_row(label, str(summary[key]))
    table.add_row("partitions", ", ".join(d.isoformat() for d in summary["partitions"]) or "-")
    Console().print(table)


@app.command()
def sql(
    query: Annotated[Optional[str], typer.Argument(help="SQL to run; omit for an interactive DuckDB shell.")] = None,
    warehouse: WarehouseOpt = None,
    output: Annotated[
        Optional[str],
        typer.Option("--format", "-f", help="table, csv, json or markdown [default: table on a terminal, else csv]."),
    ] = None,
    file: Annotated[Optional[Path], typer.Option("--file", "-F", help="Run the SQL in this file (e.g. sql/queries/*.sql).")] = None,
    param: Annotated[
        Optional[list[str]], typer.Option("--param", "-p", help="Bind $name in the query: -p name=value (repeatable).")
    ] = None,
) -> None:
    """Query the warehouse read-only (safe while runs write).

    Example: fpwatch sql "select title, published_date from articles order by published_date"

    Example: fpwatch sql -F sql/queries/people_met_by.sql -p "person=Antony Blinken"
    """
    import duckdb

    from flows.warehouse.lake import LakeError, cli_init_script, connect_analyst
    from flows.settings import get_settings

    location = _location(warehouse)
    if not location.exists():
        _fail(f"no warehouse at {location.root}: run `fpwatch run` first")
    if file is not None:
        if query is not None:
            _fail("give a query or --file, not both", 2)
        try:
            query = file.read_text()
        except OSError as exc:
            _fail(f"cannot read {file}: {exc.strerror or exc}", 2)
    params: dict[str, str] = {}
    for item in param or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            _fail(f"--param takes name=value, got {item!r}", 2)
        params[name.strip()] = value
    if query is None:
        shell = shutil.which("duckdb", path=str(Path(sys.executable).parent)) or shutil.which("duckdb")
        if not shell:
            _fail("no duckdb shell found: `pip install duckdb-cli==1.5.5`, or pass a query")
        import tempfile

        try:  # the analyst may not be allowed to write in the warehouse: the init file goes to /tmp
            with tempfile.NamedTemporaryFile("w", prefix="fpwatch-duckdbrc-", suffix=".sql", delete=False) as fh:
                fh.write(cli_init_script(location))
            init = fh.name
        except (LakeError, OSError) as exc:
            _fail(str(exc))
        os.execv(shell, [shell, "-init", init])
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        _fail(str(exc).splitlines()[0], 2)
    for statement in statements:
        if statement.type.name not in READ_STATEMENTS:
            kind = statement.type.name.lower()
            _fail(f"fpwatch sql is read-only: a {kind.upper()} statement is not allowed here "
                  "(to export, use --format csv|json and redirect the output)", 2)
    output = output or ("table" if sys.stdout.isatty() else "csv")
    if output not in {"table", "csv", "json", "markdown"}:
        _fail(f"unknown --format {output!r}: use table, csv, json or markdown", 2)
    try:
        con = connect_analyst(location)
        result = con.sql(query, params=params or None)
        frame = result.pl() if result is not None else None
    except LakeError as exc:
        _fail(str(exc))
    except duckdb.Error as exc:
        _fail(str(exc).splitlines()[0])
    if frame is None:
        return
    if output == "csv":
        sys.stdout.write(_flatten_nested(frame).write_csv())
    elif output == "json":
        sys.stdout.write(frame.write_json() + "\n")
    elif output == "markdown":
        import polars as pl

        with pl.Config(tbl_formatting="MARKDOWN", tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True,
                       tbl_rows=-1, tbl_cols=-1, fmt_str_lengths=10_000, tbl_width_chars=60_000):
            print(frame)
    else:
        table = Table(*frame.columns)
        for row in frame.iter_rows():
            table.add_row(*["" if v is None else str(v) for v in row])
        Console().print(table)
        console.print(f"{frame.height} rows")


def _flatten_nested(frame):
    """CSV has no lists or structs: lists become '; '-joined text, structs JSON."""
    import polars as pl

    exprs = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, (pl.List, pl.Array)):
            exprs.append(pl.col(name).cast(pl.List(pl.Utf8)).list.join("; "))
        elif isinstance(dtype, pl.Struct):
            exprs.append(pl.col(name).struct.json_encode())
        else:
            exprs.append(pl.col(name))
    return frame.select(exprs)


@app.command()
def migrate(warehouse: WarehouseOpt = None) -> None:
    """Bring a warehouse to the current catalog: tables, views, comments; converts the old Parquet layout.

    A warehouse written by fpwatch before DuckLake (lake/<table>/... Parquet files and warehouse.duckdb)
    is copied into the DuckLake catalog row for row, in one commit; the old files are then moved to
    <warehouse>/legacy-<time>/ (delete it once you have checked the new catalog).

    Example: fpwatch migrate --warehouse /srv/fpwatch
    """
    from flows.warehouse.migrate import MigrationError, migrate_warehouse
    from flows.warehouse.store import Warehouse

    with _Guard("migrate", warehouse):
        store = Warehouse(_location(warehouse).root)
        try:
            report = migrate_warehouse(store)
        except MigrationError as exc:
            _fail(str(exc))
    for line in report:
        console.print(line)


@app.command()
def compact(
    warehouse: WarehouseOpt = None,
    keep_days: Annotated[
        Optional[int], typer.Option("--keep-days", help="Snapshots kept for time travel [env FPWATCH_SNAPSHOT_RETENTION_DAYS].")
    ] = None,
) -> None:
    """Merge small data files, expire snapshots older than the retention, delete files nothing references.

    Example: fpwatch compact --keep-days 30
    """
    from flows.warehouse.maintenance import compact_warehouse
    from flows.settings import get_settings
    from flows.warehouse.store import Warehouse

    with _Guard("compact", warehouse):
        settings = get_settings()
        store = Warehouse(_location(warehouse).root)
        stats = compact_warehouse(store, keep_days if keep_days is not None else settings.snapshot_retention_days)
    table = Table(title="fpwatch compact", show_header=False)
    for key, value in stats.items():
        table.add_row(key.replace("_", " "), str(value))
    Console().print(table)


def _print_run_summary(summary: dict) -> None:
    table = Table(title=f"fpwatch {summary['flow']} {summary['run_id']}", show_header=False)
    for label, key in [
        ("status", "status"), ("articles in", "articles_in"), ("articles written", "articles_written"),
        ("duplicates", "duplicates"), ("rejected", "rejects"),
    ]:
        table.add_row(label, str(summary.get(key)))
    days = summary.get("partitions") or []
    table.add_row("partitions", f"{len(days)}: {days[0]} .. {days[-1]}" if days else "-")
    Console().print(table)


@app.command()
def serve(warehouse: WarehouseOpt = None) -> None:
    """Serve the ingest, backfill, reprocess and compact deployments against PREFECT_API_URL (until Ctrl-C).

    Stopped with Ctrl-C or SIGTERM, it ends the flow runs it has in flight and marks them Crashed at once.

    Example: PREFECT_API_URL=http://127.0.0.1:4200/api fpwatch serve --warehouse /srv/fpwatch
    """
    from flows.jobs.deployments import serve_all
    from flows.settings import get_settings

    settings = get_settings()
    if warehouse:
        settings = settings.model_copy(update={"warehouse": warehouse})
    if not os.environ.get("PREFECT_API_URL"):
        console.print(
            "[yellow]warning:[/yellow] PREFECT_API_URL is not set: serving against a temporary local server "
            "(start one with `prefect server start` and export PREFECT_API_URL=http://127.0.0.1:4200/api)"
        )
    serve_all(settings)


@app.command()
def deploy(
    pool: Annotated[Optional[str], typer.Option("--pool", help="Process work pool [env FPWATCH_WORK_POOL, default fpwatch].")] = None,
) -> None:
    """Register the ingest, backfill, reprocess and compact deployments to a Prefect work pool.

    The pool (a process pool) is created if missing; `prefect worker start --pool NAME` on any
    machine with fpwatch installed then runs them. Also creates the automation that marks runs whose
    heartbeats stopped as Crashed. Needs PREFECT_API_URL.

    Example: PREFECT_API_URL=http://prefect:4200/api fpwatch deploy --pool fpwatch
    """
    if not os.environ.get("PREFECT_API_URL"):
        _fail("fpwatch deploy needs a Prefect server: export PREFECT_API_URL=http://HOST:4200/api", 2)
    with _Guard("deploy", None):
        from flows.jobs.deployments import deploy_all

        result = deploy_all(pool=pool)
    table = Table(title=f"fpwatch deploy: work pool {result['pool']}"
                  + (" (created)" if result["pool_created"] else ""), show_header=False)
    for name, deployment_id in result["deployments"].items():
        table.add_row(name, deployment_id)
    table.add_row("zombie automation", result["automation"])
    Console().print(table)
    console.print(f"next: `prefect worker start --pool {result['pool']}` on each machine that runs flows")


@app.command()
def backfill(
    start: Annotated[str, typer.Option("--start", help="First day partition, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--end", help="Last day partition (included), YYYY-MM-DD.")],
    source: Annotated[Optional[list[str]], typer.Option("--source", help="Only this outlet or publisher (repeatable).")] = None,
    mode: Annotated[str, typer.Option("--mode", help="reprocess (stored raw inputs) or refetch (download again).")] = "reprocess",
    warehouse: WarehouseOpt = None,
) -> None:
    """Rebuild the day partitions from --start to --end, one day at a time.

    Example: fpwatch backfill --start 2024-01-01 --end 2024-01-31 --mode reprocess
    """
    from flows.jobs.backfill import BackfillError, backfill_flow, plan_days
    from flows.settings import get_settings

    try:
        plan_days(start, end, mode, get_settings())  # fail fast with one line, before Prefect starts
    except BackfillError as exc:
        _fail(str(exc), 2)
    with _Guard("backfill", warehouse):
        summary = backfill_flow(start=start, end=end, sources=source or [], mode=mode,
                                warehouse=str(warehouse) if warehouse else None)
    _print_run_summary(summary)


@app.command()
def reprocess(
    start: Annotated[Optional[str], typer.Option("--start", help="First day partition, YYYY-MM-DD (default: oldest).")] = None,
    end: Annotated[Optional[str], typer.Option("--end", help="Last day partition, YYYY-MM-DD (default: newest).")] = None,
    source: Annotated[Optional[list[str]], typer.Option("--source", help="Only this outlet or publisher (repeatable).")] = None,
    all_partitions: Annotated[bool, typer.Option("--all", help="Rebuild every partition, not only outdated ones.")] = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """Re-run the transforms over stored raw inputs of partitions an older pipeline version wrote.

    Example: fpwatch reprocess --start 2024-01-01
    """
    from flows.jobs.reprocess import reprocess_flow

    with _Guard("reprocess", warehouse):
        summary = reprocess_flow(start=start, end=end, sources=source or [], only_outdated=not all_partitions,
                                 warehouse=str(warehouse) if warehouse else None)
    _print_run_summary(summary)


def _register_fetch() -> None:
    # flows/sources/fetch.py owns its options (typer signature); registering it imports Prefect, ~1 s.
    import functools

    from flows.sources.fetch import fetch_command

    @functools.wraps(fetch_command)
    def guarded(*args, **kwargs):
        with _Guard("fetch", kwargs.get("warehouse")):
            return fetch_command(*args, **kwargs)

    app.command("fetch")(guarded)


def main() -> None:
    """The `fpwatch` entry point: `fpwatch sql` answers without importing Prefect or the pipeline.

    `--debug` (anywhere, or FPWATCH_DEBUG=1) shows tracebacks on screen instead of only in the log file.
    """
    global _DEBUG
    if "--debug" in sys.argv:
        sys.argv.remove("--debug")
        _DEBUG = True
    if sys.argv[1:2] and sys.argv[1] in SUPERVISED_COMMANDS and "--help" not in sys.argv:
        _supervise()
    if sys.argv[1:2] != ["sql"]:
        _register_fetch()
    app()


#: Commands that start helper processes (Prefect's temporary API server, Dask workers).
SUPERVISED_COMMANDS = frozenset({"run", "fetch", "backfill", "reprocess", "compact", "migrate"})
#: Seconds the work process gets to stop on its own (Prefect stops its server) before it is killed.
STOP_GRACE_S = 20


def _supervise() -> None:
    """Run the command in a child process group, so that nothing it starts outlives the command.

    The parent only waits and relays Ctrl-C/SIGTERM; when the child ends (or is killed), whatever is
    left of its group (a temporary Prefect server, Dask workers) is killed. When the parent itself
    is killed (even with SIGKILL), the kernel sends the child SIGTERM (PR_SET_PDEATHSIG), which
    stops the run like Ctrl-C: committed chunks stay, Prefect shuts its server down, and the child
    kills what remains of its group on the way out.
    """
    import signal

    if os.environ.get("FPWATCH_SUPERVISED") or not hasattr(os, "fork"):
        return
    os.environ["FPWATCH_SUPERVISED"] = "1"
    child = os.fork()
    if child == 0:
        os.setpgid(0, 0)
        _die_with_parent(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _interrupt)
        import atexit

        atexit.register(_kill_own_group)
        return
    def relay(signum, _frame) -> None:
        try:
            os.kill(child, signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGINT, relay)
    signal.signal(signal.SIGTERM, relay)
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except ChildProcessError:
            status = 1 << 8
            break
        except InterruptedError:
            continue
    try:
        os.killpg(child, signal.SIGKILL)  # leftovers of the command's group
    except (ProcessLookupError, PermissionError):
        pass
    code = os.waitstatus_to_exitcode(status)
    os._exit(code if code >= 0 else 128 - code)


def _interrupt(signum, _frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _die_with_parent(signum: int) -> None:
    """Ask the kernel to send `signum` to this process when its parent dies (Linux only)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signum, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the parent's killpg still cleans up on normal exits
        pass
    if os.getppid() == 1:  # the parent died before prctl took effect
        os.kill(os.getpid(), signum)


def _kill_own_group() -> None:
    """Last thing a supervised command does: kill what it started and left behind (not itself first)."""
    import signal

    me = os.getpid()
    try:
        import psutil

        for proc in psutil.Process(me).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                proc.kill()
    except ImportError:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            os.killpg(0, signal.SIGTERM)


if __name__ == "__main__":
    main()
