"""Run bookkeeping: a RunContext for every flow run and its row in the `runs` table."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from flows.warehouse.store import Reject, Warehouse, replace_rows
from transforms import PIPELINE_VERSION


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _current_flow_run_id() -> str | None:
    try:
        from prefect.runtime import flow_run

        return str(flow_run.id) if flow_run.id else None
    except Exception:  # outside a flow run, prefect.runtime raises or returns None
        return None


@dataclass
class RunContext:
    """Identity and counters of one flow run; written to `runs` by finish_run."""

    run_id: str
    flow: str
    parameters: dict[str, Any]
    started_at: dt.datetime
    warehouse: Warehouse
    articles_in: int = 0
    articles_written: int = 0
    duplicates: int = 0
    skipped: int = 0
    chunks: int = 0  # chunks committed
    rejects: list[Reject] = field(default_factory=list)
    rejects_written: int = 0  # rejects[:rejects_written] are committed
    partitions: set[dt.date] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    snapshots: list[int] = field(default_factory=list)  # DuckLake snapshots this run committed
    summary: dict[str, Any] | None = None  # set when the run is closed (flows/pipeline/reports.py)

    @property
    def today(self) -> dt.date:
        """The run's date (UTC): the partition of articles first seen in this run without a date."""
        return self.started_at.date()

    def pending_rejects(self) -> list[Reject]:
        """Rejects found but not committed yet."""
        return self.rejects[self.rejects_written:]

    def row(self, status: str, message: str | None = None, finished: bool = False) -> dict[str, Any]:
        """The run's `runs` row as it stands."""
        return {
            "run_id": self.run_id,
            "flow": self.flow,
            "parameters": json.dumps(self.parameters, default=str, sort_keys=True),
            "started_at": self.started_at,
            "finished_at": _utcnow() if finished else None,
            "status": status,
            "articles_in": self.articles_in,
            "articles_written": self.articles_written,
            "duplicates": self.duplicates,
            "rejects": len(self.rejects),
            "partitions": sorted(self.partitions),
            "message": message or ("; ".join(self.notes) if self.notes else None),
            "pipeline_version": PIPELINE_VERSION,
        }


def start_run(flow: str, parameters: dict[str, Any], warehouse: Warehouse) -> RunContext:
    """Open a run: id from Prefect's flow run when there is one; its `runs` row says `running`."""
    run = RunContext(
        run_id=_current_flow_run_id() or uuid.uuid4().hex,
        flow=flow,
        parameters=parameters,
        started_at=_utcnow(),
        warehouse=warehouse,
    )
    write_run_row(run, run.row("running"))
    return run


def write_run_row(run: RunContext, row: dict[str, Any]) -> None:
    """Replace the run's `runs` row (one commit)."""
    frame = pl.DataFrame([row], schema_overrides={"partitions": pl.List(pl.Date)})
    run.warehouse.commit(
        lambda cur: replace_rows(cur, "runs", frame, key="run_id", keys=[run.run_id]), what="commit of the runs row"
    )


def finish_run(run: RunContext, status: str, message: str | None = None) -> dict[str, Any]:
    """Write the run's final `runs` row and return it as a dict (the run summary)."""
    row = run.row(status, message, finished=True)
    write_run_row(run, row)
    row["skipped"] = run.skipped
    row["snapshots"] = list(run.snapshots)
    return row
