"""A backfill on a work pool fans out: chunks of days as child flow runs, one report with a row per chunk.

The parent (the `backfill` flow run, on any worker of the pool) starts one run of the
backfill-chunk deployment per `Settings.backfill_chunk_days` days with `run_deployment` (as
subflows: the UI shows them under the parent). The deployment's concurrency limit
(`Settings.backfill_concurrency`, ENQUEUE) decides how many run at once; the pool's workers pick
them up wherever they run. The parent polls their states, starts a chunk that failed or crashed
once more, and publishes one report artifact: days, articles, rejects, seconds and state per chunk.

Each chunk is an ordinary in-process backfill of its days (its own `runs` row, checks and report),
so re-running a backfill, or a chunk, gives the same rows.

A parent whose process died (worker or machine lost: the zombie automation marks it Crashed) leaves
its chunk runs going: they are runs of their own, on other workers, and each still writes its days
whole. The next run of the backfill adopts them: a chunk run of the same days, sources, mode and
warehouse that is still scheduled or running becomes that chunk's first attempt instead of a second
writer of the same days (and a second holder of a concurrency slot); any other unfinished chunk run
over some of these days is waited for before this backfill starts. Cancelling a parent in the UI
cancels its chunk runs (Prefect's own rule for subflow runs); a Crashed parent is not cancelled,
as its chunks' work is still good. Chunks run side by side: duplicates and
stories across a chunk boundary are found against what the warehouse holds when the later chunk
links (the earlier days' rows, rebuilt or not yet). With unchanged inputs and pipeline that is the
same as a one-process backfill; after a change that moves duplicates or stories across a boundary,
a second run of the backfill settles them (or set FPWATCH_BACKFILL_CONCURRENCY=1 for date order).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from prefect.logging import get_run_logger
from prefect.states import Failed, State

from flows.settings import Settings

#: Seconds between two looks at the children's states: a chunk takes minutes, a look ~10 ms.
POLL_SECONDS = 2.0
#: Runs of one chunk at most: the first, and one retry (a crashed worker, a lost connection).
ATTEMPTS = 2
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
RETRIED = {"FAILED", "CRASHED"}
#: A chunk run in one of these states will still write its days: a re-run adopts it or waits for it.
UNFINISHED = ("SCHEDULED", "PENDING", "RUNNING", "PAUSED")


@dataclass
class Chunk:
    """One child run of a fanned-out backfill (its last attempt)."""

    days: list[dt.date]
    attempts: int = 0
    flow_run_id: str | None = None
    state: str = "PENDING"
    message: str = ""
    seconds: float = 0.0
    articles_in: int | None = None
    articles_written: int | None = None
    rejects: int | None = None
    earlier_runs: list[str] = field(default_factory=list)
    adopted: bool = False

    @property
    def label(self) -> str:
        return f"{self.days[0]}..{self.days[-1]}"


def _start(chunk: Chunk, sources: list[str], mode: str, warehouse: str | None, parent: str | None) -> None:
    from prefect.deployments import run_deployment

    from flows.jobs.deployments import BACKFILL_CHUNK_FULL_NAME, TAGS

    if chunk.flow_run_id:
        chunk.earlier_runs.append(chunk.flow_run_id)
    chunk.attempts += 1
    parameters: dict[str, Any] = {"start": chunk.days[0].isoformat(), "end": chunk.days[-1].isoformat(),
                                  "sources": sources, "mode": mode}
    if warehouse:
        parameters["warehouse"] = warehouse
    run = run_deployment(
        BACKFILL_CHUNK_FULL_NAME, parameters=parameters, timeout=0, as_subflow=True, tags=TAGS,
        flow_run_name=f"chunk {chunk.label}" + (f" (attempt {chunk.attempts})" if chunk.attempts > 1 else ""),
        # A parent that is itself retried does not start a chunk twice.
        idempotency_key=f"{parent}:{chunk.label}:{chunk.attempts}" if parent else None,
    )
    chunk.flow_run_id, chunk.state = str(run.id), "SCHEDULED"


def _chunk_key(start: Any, end: Any, sources: list[str] | None, mode: Any, warehouse: str | None) -> tuple:
    return (str(start), str(end), tuple(sorted(sources or [])), str(mode), warehouse or None)


def unfinished_chunk_runs(client: Any) -> list[Any]:
    """Runs of the backfill-chunk flow that are scheduled, pending, running or paused (any backfill's)."""
    from prefect.client.schemas.filters import (FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterState,
                                                FlowRunFilterStateType)
    from prefect.client.schemas.objects import StateType

    return client.read_flow_runs(
        flow_filter=FlowFilter(name=FlowFilterName(any_=["backfill-chunk"])),
        flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
            type=FlowRunFilterStateType(any_=[StateType(s) for s in UNFINISHED]))),
    )


def adopt_earlier_runs(chunks: list[Chunk], runs: list[Any], sources: list[str], mode: str,
                       warehouse: str | None) -> list[Any]:
    """Make each unfinished run of exactly a chunk's days its first attempt; return the other runs over our days.

    `runs`: unfinished backfill-chunk runs (an earlier backfill's, whose parent died or is running).
    """
    wanted = {_chunk_key(c.days[0], c.days[-1], sources, mode, warehouse): c for c in chunks}
    first, last = chunks[0].days[0], chunks[-1].days[-1]
    overlapping = []
    for run in runs:
        params = run.parameters or {}
        chunk = wanted.get(_chunk_key(params.get("start"), params.get("end"), params.get("sources"),
                                      params.get("mode", "reprocess"), params.get("warehouse")))
        if chunk is not None and not chunk.adopted:
            chunk.flow_run_id, chunk.attempts, chunk.adopted = str(run.id), 1, True
            chunk.state = run.state.type.value if run.state else "SCHEDULED"
            continue
        try:
            start, end = dt.date.fromisoformat(str(params["start"])), dt.date.fromisoformat(str(params["end"]))
        except (KeyError, ValueError):
            continue
        if start <= last and end >= first:
            overlapping.append(run)
    return overlapping


def _wait_for_runs(client: Any, runs: list[Any]) -> None:
    """Poll until every one of `runs` has a final state."""
    pending = {str(r.id) for r in runs}
    while pending:
        time.sleep(POLL_SECONDS)
        pending = {i for i in pending if (s := client.read_flow_run(i).state) is None or s.type.value not in FINAL}


def _take_over(chunks: list[Chunk], sources: list[str], mode: str, warehouse: str | None) -> None:
    """Adopt an earlier backfill's unfinished runs of our chunks; wait for its other runs over our days."""
    from prefect.client.orchestration import get_client

    logger = get_run_logger()
    with get_client(sync_client=True) as client:
        overlapping = adopt_earlier_runs(chunks, unfinished_chunk_runs(client), sources, mode, warehouse)
        for chunk in chunks:
            if chunk.adopted:
                logger.info("chunk %s: adopting run %s of an earlier backfill (%s)", chunk.label, chunk.flow_run_id,
                            chunk.state.lower())
        if overlapping:
            logger.warning("waiting for %d unfinished chunk run(s) of an earlier backfill over some of these days: %s",
                           len(overlapping), ", ".join(str(r.id) for r in overlapping))
            _wait_for_runs(client, overlapping)


def _wait(chunks: list[Chunk], sources: list[str], mode: str, warehouse: str | None, parent: str | None) -> None:
    """Poll the children until every chunk has a final state; start a failed one once more."""
    from prefect.client.orchestration import get_client

    logger = get_run_logger()
    with get_client(sync_client=True) as client:
        while True:
            open_chunks = [c for c in chunks if c.state not in FINAL]
            if not open_chunks:
                return
            for chunk in open_chunks:
                run = client.read_flow_run(chunk.flow_run_id)
                state = run.state.type.value if run.state else "PENDING"
                if state not in FINAL:
                    chunk.state = state
                    continue
                chunk.message = (run.state.message or "") if run.state else ""
                chunk.seconds = run.total_run_time.total_seconds() if run.total_run_time else 0.0
                if state in RETRIED and chunk.attempts < ATTEMPTS:
                    logger.warning("chunk %s %s (%s): starting it once more", chunk.label, state.lower(), chunk.message)
                    _start(chunk, sources, mode, warehouse, parent)
                    continue
                chunk.state = state
                logger.info("chunk %s: %s in %.1f s", chunk.label, state.lower(), chunk.seconds)
            time.sleep(POLL_SECONDS)


def _counts(chunks: list[Chunk], warehouse: str | None, settings: Settings) -> None:
    """Fill each chunk's counts from its `runs` row (the child's run_id is its flow run id)."""
    from flows.warehouse.store import Warehouse

    ids = [c.flow_run_id for c in chunks if c.flow_run_id]
    try:
        rows = Warehouse(warehouse or settings.warehouse).read("runs").filter(pl.col("run_id").is_in(ids))
    except Exception as exc:  # the report still lists states and times
        get_run_logger().warning("could not read the chunks' runs rows: %s", exc)
        return
    by_id = {r["run_id"]: r for r in rows.iter_rows(named=True)}
    for chunk in chunks:
        row = by_id.get(chunk.flow_run_id)
        if row:
            chunk.articles_in, chunk.articles_written, chunk.rejects = (
                row["articles_in"], row["articles_written"], row["rejects"])


def render_fanout_report(days: list[dt.date], chunks: list[Chunk], mode: str, sources: list[str],
                         wall_seconds: float) -> str:
    from flows.pipeline.reports import _table

    done = sum(c.state == "COMPLETED" for c in chunks)
    status = "completed" if done == len(chunks) else "failed"
    lines = [
        f"# fpwatch backfill run: {status}", "",
        f"**Days:** {days[0]} .. {days[-1]} ({len(days)} days) in {len(chunks)} chunks, mode {mode}, "
        f"sources {', '.join(sources) or 'all'}", "",
        f"**Chunks completed:** {done} of {len(chunks)}; **wall time:** {wall_seconds:.1f} s", "",
        "## Chunks", "",
    ]
    rows = [[c.label, len(c.days), c.articles_in, c.articles_written, c.rejects, round(c.seconds, 1),
             c.state.lower(), c.attempts, c.flow_run_id,
             "; ".join(m for m in ("adopted from an earlier backfill" if c.adopted else "", c.message) if m)]
            for c in chunks]
    lines += _table(["days", "n days", "articles in", "articles written", "rejects", "seconds", "state",
                     "attempts", "flow run", "message"], rows)
    return "\n".join(lines) + "\n"


def fan_out(days: list[dt.date], sources: list[str], mode: str, settings: Settings,
            warehouse: str | None = None) -> dict[str, Any] | State:
    """Run `days` as child flow runs of `settings.backfill_chunk_days` days; the summary, or Failed."""
    from prefect.runtime import flow_run

    from flows.jobs.backfill import chunk_days
    from flows.pipeline.reports import publish_report

    logger = get_run_logger()
    parent = flow_run.get_id()
    started = time.monotonic()
    chunks = [Chunk(part) for part in chunk_days(days, settings.backfill_chunk_days)]
    logger.info("%d days in %d chunks of up to %d days (at most %d at once)", len(days), len(chunks),
                settings.backfill_chunk_days, settings.backfill_concurrency)
    _take_over(chunks, sources, mode, warehouse)
    for chunk in chunks:
        if not chunk.adopted:
            _start(chunk, sources, mode, warehouse, parent)
    _wait(chunks, sources, mode, warehouse, parent)
    _counts(chunks, warehouse, settings)
    wall = time.monotonic() - started
    markdown = render_fanout_report(days, chunks, mode, sources, wall)
    failed = [c for c in chunks if c.state != "COMPLETED"]
    artifact = publish_report(markdown, "backfill", f"backfill {days[0]}..{days[-1]}: {len(chunks)} chunks")
    summary = {
        "flow": "backfill", "run_id": parent, "status": "failed" if failed else "completed", "days": len(days),
        "chunks": [{"days": c.label, "state": c.state, "attempts": c.attempts, "flow_run_id": c.flow_run_id,
                    "adopted": c.adopted,
                    "articles_in": c.articles_in, "articles_written": c.articles_written, "rejects": c.rejects,
                    "seconds": c.seconds} for c in chunks],
        "articles_in": sum(c.articles_in or 0 for c in chunks),
        "articles_written": sum(c.articles_written or 0 for c in chunks),
        "rejects": sum(c.rejects or 0 for c in chunks),
        "seconds": round(wall, 1), "report": markdown, "artifact_id": artifact,
    }
    if failed:
        listed = ", ".join(f"{c.label} {c.state.lower()}" for c in failed)
        return Failed(message=f"{len(failed)} of {len(chunks)} chunks did not complete after {ATTEMPTS} attempts: "
                      f"{listed} (see the report artifact)")
    return summary
