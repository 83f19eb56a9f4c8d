"""`ingest`: the scheduled, incremental job: new files from the inbox folders, new pages of the sources.

Incremental: a file whose bytes are already committed (same article id, same sha256 in `raw_inputs`)
is skipped by the pipeline; the fetch flow keeps its own state of pages seen. So one run catches up on everything
since the last one, however long ago that was, and a late run does not need the runs it missed:
the first late run of the deployment cancels the other late ones ("superseded") and catches up in
one go. The deployment also allows only one ingest at a time (flows/jobs/deployments.py).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.logging import get_run_logger

from flows.pipeline.reports import run_lifecycle
from flows.jobs.run import ingest_files
from flows.settings import get_settings
from flows.warehouse.store import Warehouse


def cancel_late_runs() -> list[str]:
    """Cancel this deployment's other runs that were due before now (missed while serve was down)."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.runtime import deployment, flow_run
    from prefect.states import Cancelled

    if not deployment.id or not flow_run.id:
        return []
    with get_client(sync_client=True) as client:
        late = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
                expected_start_time=FlowRunFilterExpectedStartTime(before_=dt.datetime.now(dt.timezone.utc)),
            ),
        )
        cancelled = []
        for other in late:
            if str(other.id) == str(flow_run.id):
                continue
            client.set_flow_run_state(
                other.id, Cancelled(message=f"superseded: ingest run {flow_run.id} catches up in one go"), force=True
            )
            cancelled.append(str(other.id))
    return cancelled


@flow(name="ingest", log_prints=True)
def ingest_flow(
    paths: list[str] = [],  # noqa: B006  (a list, not None: no None toggle in the Custom run form)
    sources_file: str | None = None,
    warehouse: str | None = None,
) -> dict[str, Any]:
    """Ingest what is new since the last run: inbox files and pages of the sources file.

    Args:
        paths: Folders or files to read new .txt/.html files from; empty: FPWATCH_INGEST_PATHS.
        sources_file: Sources file (.toml/.yaml) to fetch; empty: FPWATCH_INGEST_SOURCES_FILE.
        warehouse: Warehouse directory; empty: the FPWATCH_WAREHOUSE setting.
    """
    settings = get_settings()
    logger = get_run_logger()
    superseded = cancel_late_runs()
    inputs = [Path(p) for p in paths] if paths else list(settings.ingest_paths)
    sources = sources_file or (str(settings.ingest_sources_file) if settings.ingest_sources_file else None)
    store = Warehouse(warehouse or settings.warehouse)
    params = {"paths": [str(p) for p in inputs], "sources_file": sources, "warehouse": str(store.root)}
    with run_lifecycle("ingest", params, store, settings) as run:
        if superseded:
            run.notes.append(f"cancelled {len(superseded)} late runs of this deployment: this run catches up for them")
        if not inputs and not sources:
            run.notes.append("nothing to ingest: set FPWATCH_INGEST_PATHS and/or FPWATCH_INGEST_SOURCES_FILE")
            logger.warning(run.notes[-1])
        if inputs:
            # Files already committed with the same bytes are skipped by the pipeline itself.
            ingest_files(inputs, settings, run)
            if run.skipped:
                run.notes.append(f"{run.skipped} files unchanged since they were ingested")
        if sources:
            from flows.sources.fetch import fetch_flow

            fetched = fetch_flow(sources_file=sources, warehouse=str(store.root))
            run.partitions.update(fetched.get("partitions") or [])
            run.notes.append(
                f"fetch run {fetched['run_id']}: {fetched.get('articles_written', 0)} articles written, "
                f"{fetched.get('rejects', 0)} rejected"
            )
    return run.summary
