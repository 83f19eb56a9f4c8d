"""Every deployment of fpwatch, in one place; `fpwatch serve` serves them all against PREFECT_API_URL.

| deployment                    | schedule                        | at once | a run that collides           |
|-------------------------------|---------------------------------|---------|-------------------------------|
| ingest/fpwatch-ingest         | FPWATCH_INGEST_CRON (hourly)    | 1       | is cancelled (next one catches up) |
| backfill/fpwatch-backfill     | none: Run > Custom run in the UI| 1       | waits its turn                |
| reprocess/fpwatch-reprocess   | FPWATCH_REPROCESS_CRON (nightly)| 1       | is cancelled                  |
| compact/fpwatch-compact       | FPWATCH_COMPACT_CRON (nightly)  | 1       | is cancelled                  |

Missed runs: while `serve` is down, scheduled runs turn Late. Schedules are *not* paused when
serve stops (Prefect's default pauses them and deletes the future runs, so a restart by another
means leaves the schedule off). When serve is back, the first late ingest cancels the other late
ones and catches up in one go (flows/jobs/ingest.py), and the deployment's concurrency limit of 1
with CANCEL_NEW cancels any that start while it runs: no flood of late runs.
Overlapping writes: every chunk is one DuckLake transaction; a writer whose commit conflicts with
another's retries it with backoff (flows/warehouse/store.py), so flows may overlap.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import EntrypointType

from flows.settings import Settings, get_settings
from transforms import PIPELINE_VERSION

INGEST_DEPLOYMENT = "fpwatch-ingest"
BACKFILL_DEPLOYMENT = "fpwatch-backfill"
REPROCESS_DEPLOYMENT = "fpwatch-reprocess"
COMPACT_DEPLOYMENT = "fpwatch-compact"
TAGS = ["fpwatch"]
#: Flow runs one `serve` process executes at once: the ingest, a backfill, a reprocess, a compaction.
SERVE_LIMIT = 4


@flow(name="compact", log_prints=True)
def compact_flow(warehouse: str | None = None, keep_days: int | None = None) -> dict[str, Any]:
    """Merge small data files, expire snapshots older than keep_days (default FPWATCH_SNAPSHOT_RETENTION_DAYS).

    Args:
        warehouse: Warehouse directory; empty: the FPWATCH_WAREHOUSE setting.
        keep_days: Days of snapshots kept for time travel; empty: the setting.
    """
    from flows.warehouse.maintenance import compact_job

    return compact_job(warehouse, keep_days)


def _one_at_a_time(collision: ConcurrencyLimitStrategy) -> ConcurrencyLimitConfig:
    return ConcurrencyLimitConfig(limit=1, collision_strategy=collision)


def build_deployments(settings: Settings | None = None) -> list[Any]:
    """The ingest, backfill, reprocess and compact deployments (RunnerDeployment objects), from the settings."""
    from flows.jobs.backfill import backfill_flow
    from flows.jobs.ingest import ingest_flow
    from flows.jobs.reprocess import reprocess_flow

    settings = settings or get_settings()
    common = {"tags": TAGS, "version": PIPELINE_VERSION, "entrypoint_type": EntrypointType.MODULE_PATH}
    return [
        ingest_flow.to_deployment(
            name=INGEST_DEPLOYMENT,
            cron=settings.ingest_cron.strip() or None,
            concurrency_limit=_one_at_a_time(ConcurrencyLimitStrategy.CANCEL_NEW),
            description="Incremental ingest of new inbox files and new pages of the sources file.",
            **common,
        ),
        backfill_flow.to_deployment(
            name=BACKFILL_DEPLOYMENT,
            concurrency_limit=_one_at_a_time(ConcurrencyLimitStrategy.ENQUEUE),
            description="Rebuild a date range of day partitions (Run > Custom run: start, end, sources, mode).",
            **common,
        ),
        reprocess_flow.to_deployment(
            name=REPROCESS_DEPLOYMENT,
            cron=settings.reprocess_cron.strip() or None,
            concurrency_limit=_one_at_a_time(ConcurrencyLimitStrategy.CANCEL_NEW),
            description="Re-run the transforms over stored raw inputs of partitions an older pipeline wrote.",
            **common,
        ),
        compact_flow.to_deployment(
            name=COMPACT_DEPLOYMENT,
            cron=settings.compact_cron.strip() or None,
            concurrency_limit=_one_at_a_time(ConcurrencyLimitStrategy.CANCEL_NEW),
            description="Merge small data files, expire old snapshots, delete unreferenced files.",
            **common,
        ),
    ]


def pin_paths_in_env(settings: Settings) -> dict[str, str]:
    """Put absolute warehouse/input paths in the environment the served flow runs inherit.

    Flow runs execute in child processes; a relative ./data must mean the same folder there as
    where `fpwatch serve` was started.
    """
    pinned = {"FPWATCH_WAREHOUSE": str(Path(settings.warehouse).expanduser().resolve())}
    if settings.ingest_sources_file:
        pinned["FPWATCH_INGEST_SOURCES_FILE"] = str(Path(settings.ingest_sources_file).expanduser().resolve())
    if settings.ingest_paths:
        import json

        pinned["FPWATCH_INGEST_PATHS"] = json.dumps([str(Path(p).expanduser().resolve()) for p in settings.ingest_paths])
    os.environ.update(pinned)
    return pinned


def serve_all(settings: Settings | None = None, *, limit: int = SERVE_LIMIT) -> None:
    """Serve every deployment until interrupted (the flow runs execute in this machine's processes)."""
    from prefect import serve

    settings = settings or get_settings()
    pin_paths_in_env(settings)
    # Telemetry off unless the operator asked for it (DESIGN.md: offline it only logs DNS errors).
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    serve(*build_deployments(settings), pause_on_shutdown=False, limit=limit)
