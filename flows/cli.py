"""The `fpwatch` command: thin subcommands over the flows and the warehouse."""

from __future__ import annotations

import os

# Offline by default: no Prefect telemetry or analytics heartbeat (they only log DNS errors here).
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

import shutil
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

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


def _fail(message: str, code: int = 1) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


@app.command()
def run(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Files or folders (.txt, .html, .htm). Default: seeds/")] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Load article files, run the whole pipeline and write the warehouse.

    Example: fpwatch run seeds/ --warehouse data
    """
    from flows.run import run_flow

    summary = run_flow(paths=[str(p) for p in paths] if paths else None, warehouse=str(warehouse) if warehouse else None)
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
) -> None:
    """Query the warehouse read-only (safe while runs write).

    Example: fpwatch sql "select title, published_date from articles order by published_date"
    """
    import duckdb

    from flows.settings import get_settings
    from flows.warehouse import Warehouse

    store = Warehouse(warehouse or get_settings().warehouse)
    if not store.db_path.exists():
        _fail(f"no warehouse at {store.db_path}: run `fpwatch run` first")
    if query is None:
        shell = shutil.which("duckdb", path=str(Path(sys.executable).parent)) or shutil.which("duckdb")
        if not shell:
            _fail("no duckdb shell found: `pip install duckdb-cli==1.5.6`, or pass a query")
        os.execv(shell, [shell, "-readonly", str(store.db_path)])
    try:
        con = duckdb.connect(str(store.db_path), read_only=True)
        result = con.sql(query)
    except duckdb.Error as exc:
        _fail(str(exc).splitlines()[0])
    if result is None:
        return
    frame = result.pl()
    table = Table(*frame.columns)
    for row in frame.iter_rows():
        table.add_row(*["" if v is None else str(v) for v in row])
    Console().print(table)
    console.print(f"{frame.height} rows")


@app.command()
def migrate(warehouse: WarehouseOpt = None) -> None:
    """Create or update warehouse.duckdb (views, comments) for the current schema and lake location.

    Example: fpwatch migrate --warehouse /srv/fpwatch
    """
    from flows.settings import get_settings
    from flows.warehouse import Warehouse, WarehouseLocked

    store = Warehouse(warehouse or get_settings().warehouse)
    try:
        store.ensure_catalog(strict=True)
    except WarehouseLocked as exc:
        _fail(str(exc))
    console.print(f"warehouse catalogue up to date: {store.db_path}")


if __name__ == "__main__":
    app()
