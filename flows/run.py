"""`fpwatch run`: load local article files, run the whole pipeline, write the warehouse."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from flows.files import discover_files, read_files
from flows.pipeline import ingest_documents
from flows.reports import close_run, fail_run
from flows.runs import RunContext, start_run
from flows.settings import Settings, get_settings
from flows.warehouse import Warehouse

DEFAULT_INPUT = Path("seeds")


@task(name="read-files", cache_policy=NO_CACHE)
def read_inputs(paths: list[Path], settings: Settings, run: RunContext):
    """Discover and read the input files of a run (one task for the whole file set)."""
    files, rejects = discover_files(paths)
    docs, read_rejects = read_files(files, max_bytes=settings.max_file_bytes, seen_at=run.started_at)
    run.articles_in += len(rejects) + len(read_rejects)
    run.rejects.extend(rejects + read_rejects)
    return docs


@flow(name="run", log_prints=True)
def run_flow(paths: list[str] | None = None, warehouse: str | None = None) -> dict[str, Any]:
    """Load .txt/.html/.htm files and folders (default seeds/), run the pipeline, write the warehouse."""
    settings = get_settings()
    logger = get_run_logger()
    inputs = [Path(p) for p in (paths or [str(DEFAULT_INPUT)])]
    store = Warehouse(warehouse or settings.warehouse)
    store.ensure_catalog()
    run = start_run("run", {"paths": [str(p) for p in inputs], "warehouse": str(store.root)}, store)
    started = time.monotonic()
    try:
        docs = read_inputs(inputs, settings, run)
        logger.info("read %d documents, %d rejected while reading", docs.height, len(run.rejects))
        ingest_documents(docs, settings=settings, run=run)
    except Exception as exc:
        fail_run(run, exc)
        raise
    summary = close_run(run, settings)  # data checks, `runs` row, report artifact (flows/reports.py)
    summary["seconds"] = round(time.monotonic() - started, 2)
    summary["warehouse"] = str(store.root)
    logger.info(
        "run %s: %d articles written, %d rejected, %d partitions, %.1f s",
        run.run_id, run.articles_written, len(run.rejects), len(run.partitions), summary["seconds"],
    )
    return summary
