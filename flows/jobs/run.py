"""`fpwatch run`: load local article files, run the whole pipeline, write the warehouse."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
from prefect import flow
from prefect.logging import get_run_logger

from flows.sources.files import InputFile, discover_files, read_files
from flows.pipeline.process import process_documents
from flows.pipeline.reports import run_lifecycle
from flows.pipeline.runs import RunContext
from flows.settings import Settings, get_settings
from flows.warehouse.store import Warehouse

DEFAULT_INPUT = Path("seeds")


def read_in_chunks(files: list[InputFile], settings: Settings, run: RunContext) -> Iterator[pl.DataFrame]:
    """Read the files `settings.chunk_size` at a time: only one chunk's texts are in memory."""
    for offset in range(0, len(files), settings.chunk_size):
        docs, rejects = read_files(
            files[offset:offset + settings.chunk_size], max_bytes=settings.max_file_bytes, seen_at=run.started_at
        )
        run.articles_in += len(rejects)
        run.rejects.extend(rejects)
        yield docs


def ingest_files(paths: list[Path], settings: Settings, run: RunContext, *, force: bool = False) -> None:
    """Discover files under `paths` and stream them through the pipeline (rejects recorded on the way)."""
    files, rejects = discover_files(paths)
    run.articles_in += len(rejects)
    run.rejects.extend(rejects)
    get_run_logger().info("%d input files, %d rejected while listing", len(files), len(rejects))
    process_documents(read_in_chunks(files, settings, run), settings=settings, run=run, force=force)


@flow(name="run", log_prints=True)
def run_flow(paths: list[str] | None = None, warehouse: str | None = None) -> dict[str, Any]:
    """Load .txt/.html/.htm files and folders (default seeds/), run the pipeline, write the warehouse."""
    settings = get_settings()
    logger = get_run_logger()
    inputs = [Path(p) for p in (paths or [str(DEFAULT_INPUT)])]
    store = Warehouse(warehouse or settings.warehouse)
    started = time.monotonic()
    with run_lifecycle("run", {"paths": [str(p) for p in inputs], "warehouse": str(store.root)}, store, settings) as run:
        ingest_files(inputs, settings, run)
    summary = run.summary
    summary["seconds"] = round(time.monotonic() - started, 2)
    summary["warehouse"] = str(store.root)
    logger.info(
        "run %s: %d articles written, %d skipped (unchanged), %d rejected, %d partitions, snapshot %s, %.1f s",
        run.run_id, run.articles_written, run.skipped, len(run.rejects), len(run.partitions),
        run.snapshots[-1] if run.snapshots else "-", summary["seconds"],
    )
    return summary
