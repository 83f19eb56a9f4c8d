"""Run bookkeeping: a RunContext for every flow run and its row in the `runs` table."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from flows.warehouse import Reject, Warehouse
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
    rejects: list[Reject] = field(default_factory=list)
    partitions: set[dt.date] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)

    @property
    def today(self) -> dt.date:
        """The run's date (UTC): the partition of articles first seen in this run without a date."""
        return self.started_at.date()


def start_run(flow: str, parameters: dict[str, Any], warehouse: Warehouse) -> RunContext:
    """Open a run: id from Prefect's flow run when there is one."""
    return RunContext(
        run_id=_current_flow_run_id() or uuid.uuid4().hex,
        flow=flow,
        parameters=parameters,
        started_at=_utcnow(),
        warehouse=warehouse,
    )


def finish_run(run: RunContext, status: str, message: str | None = None) -> dict[str, Any]:
    """Write the run's `runs` row and return it as a dict (the run summary)."""
    row = {
        "run_id": run.run_id,
        "flow": run.flow,
        "parameters": json.dumps(run.parameters, default=str, sort_keys=True),
        "started_at": run.started_at,
        "finished_at": _utcnow(),
        "status": status,
        "articles_in": run.articles_in,
        "articles_written": run.articles_written,
        "duplicates": run.duplicates,
        "rejects": len(run.rejects),
        "partitions": sorted(run.partitions),
        "message": message or ("; ".join(run.notes) if run.notes else None),
        "pipeline_version": PIPELINE_VERSION,
    }
    frame = pl.DataFrame([row], schema_overrides={"partitions": pl.List(pl.Date)})
    run.warehouse.append("runs", frame, run.run_id)
    return row
