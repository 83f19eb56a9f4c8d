"""Every deployment of fpwatch, in one place: `fpwatch serve` serves them on this machine, `fpwatch deploy`
registers them to a Prefect process work pool that `prefect worker start --pool fpwatch` runs anywhere.

| deployment                    | schedule                        | at once | a run that collides           |
|-------------------------------|---------------------------------|---------|-------------------------------|
| ingest/fpwatch-ingest         | FPWATCH_INGEST_CRON (hourly)    | 1       | is cancelled (next one catches up) |
| backfill/fpwatch-backfill     | none: Run > Custom run in the UI| 1       | waits its turn                |
| reprocess/fpwatch-reprocess   | FPWATCH_REPROCESS_CRON (nightly)| 1       | is cancelled                  |
| compact/fpwatch-compact       | FPWATCH_COMPACT_CRON (nightly)  | 1       | is cancelled                  |
| backfill-chunk/fpwatch-backfill-chunk | none: a fanned-out backfill starts them (work pool only) | FPWATCH_BACKFILL_CONCURRENCY | waits its turn |

No ghost runs: deployed runs send a heartbeat every FPWATCH_HEARTBEAT_SECONDS (Prefect's
PREFECT_FLOWS_HEARTBEAT_FREQUENCY, set in the flow run's environment) and an automation on the server
(`ensure_zombie_automation`, Prefect's documented "zombie flows" recipe) marks a run Crashed when
neither a heartbeat nor an end arrived for FPWATCH_ZOMBIE_AFTER_SECONDS: a killed worker, `serve`
or machine leaves no run Running, and the Crashed state releases the run's concurrency slot.
`fpwatch serve` stopped with SIGTERM or Ctrl-C does not wait for the automation: it ends its runs
in flight and marks them Crashed at once (flows/jobs/shutdown.py).
The Custom run form shows the parameters an analyst needs: the `warehouse` parameter (for tests
and the CLI) is left out of every deployment's schema, so runs use the machine's FPWATCH_WAREHOUSE.

Missed runs: while `serve` is down, scheduled runs turn Late. Schedules are *not* paused when
serve stops (Prefect's default pauses them and deletes the future runs, so a restart by another
means leaves the schedule off). When serve is back, the first late ingest cancels the other late
ones and catches up in one go (flows/jobs/ingest.py), and the deployment's concurrency limit of 1
with CANCEL_NEW cancels any that start while it runs: no flood of late runs.
Overlapping writes: every chunk is one DuckLake transaction; a writer whose commit conflicts with
another's retries it with backoff (flows/warehouse/store.py), so flows may overlap.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import EntrypointType

from flows.settings import Settings, get_settings
from transforms import PIPELINE_VERSION

BACKFILL_CHUNK_DEPLOYMENT = "fpwatch-backfill-chunk"
#: `<flow>/<deployment>` a fanned-out backfill starts its chunks with (run_deployment).
BACKFILL_CHUNK_FULL_NAME = f"backfill-chunk/{BACKFILL_CHUNK_DEPLOYMENT}"
ZOMBIE_AUTOMATION = "fpwatch: crash flow runs whose heartbeats stopped"
#: Parameters kept out of the Custom run form (they stay callable from Python and the CLI).
HIDDEN_PARAMETERS = ("warehouse",)

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


def _hide_parameters(deployment: Any) -> Any:
    """Leave HIDDEN_PARAMETERS out of the deployment's form (the run then uses its default: the setting)."""
    schema = deployment._parameter_openapi_schema
    for name in HIDDEN_PARAMETERS:
        schema.properties.pop(name, None)
        if name in (schema.required or []):
            schema.required.remove(name)
    return deployment


def heartbeat_env(settings: Settings) -> dict[str, str]:
    """Environment of deployed flow runs: heartbeats often enough for the zombie automation."""
    return {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(settings.heartbeat_seconds)}


def build_deployments(settings: Settings | None = None, *, work_pool: bool = False) -> list[Any]:
    """The ingest, backfill, reprocess and compact deployments (RunnerDeployment objects), from the settings.

    work_pool: for `fpwatch deploy`: adds the backfill-chunk deployment (the children of a fanned-out
    backfill) and the heartbeat environment as job variables.
    """
    from flows.jobs.backfill import backfill_chunk_flow, backfill_flow
    from flows.jobs.ingest import ingest_flow
    from flows.jobs.reprocess import reprocess_flow

    settings = settings or get_settings()
    common: dict[str, Any] = {"tags": TAGS, "version": PIPELINE_VERSION, "entrypoint_type": EntrypointType.MODULE_PATH}
    if work_pool:
        common["job_variables"] = {"env": heartbeat_env(settings)}
    chunks = [backfill_chunk_flow.to_deployment(
        name=BACKFILL_CHUNK_DEPLOYMENT,
        concurrency_limit=ConcurrencyLimitConfig(
            limit=settings.backfill_concurrency, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE),
        description="Days of a fanned-out backfill (started by the backfill deployment, not by hand).",
        **common,
    )] if work_pool else []
    return [_hide_parameters(d) for d in [
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
        *chunks,
    ]]


def ensure_work_pool(name: str) -> bool:
    """Create the process work pool `name` unless it exists; True when it was created."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
            return False
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(
                name=name, type="process", base_job_template=ProcessWorker.get_default_base_job_template(),
                description="fpwatch flow runs: `prefect worker start --pool NAME` on every machine that runs them.",
            ))
            return True


#: Every state a flow run may move to after Pending or Running, and its heartbeat: any of these
#: within the window shows the run's process is alive (or done).
_ALIVE = {
    "prefect.flow-run.heartbeat", "prefect.flow-run.Running", "prefect.flow-run.Completed",
    "prefect.flow-run.Failed", "prefect.flow-run.Cancelled", "prefect.flow-run.Crashed",
    "prefect.flow-run.Cancelling", "prefect.flow-run.AwaitingConcurrencySlot", "prefect.flow-run.Scheduled",
    "prefect.flow-run.AwaitingRetry", "prefect.flow-run.Retrying", "prefect.flow-run.Paused",
    "prefect.flow-run.Suspended", "prefect.flow-run.Late",
}


def ensure_zombie_automation(settings: Settings) -> str:
    """Create (or refresh) the automations that mark silent runs Crashed; returns the first one's id.

    1. Prefect's recipe (docs: "How to detect and respond to zombie flows"): a proactive trigger per
       flow run that expects another heartbeat or an end state within `zombie_after_seconds` of each
       heartbeat.
    2. The same after the server-side Pending and Running events: a run whose process was killed
       before its first heartbeat reached the server (SIGKILL drops the client's event buffer:
       measured, the recipe alone left such runs Running) is crashed too.
    """
    from datetime import timedelta

    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    within = max(settings.zombie_after_seconds, 2 * settings.heartbeat_seconds + 15)
    message = f"no heartbeat for {within} s: its worker, serve process or machine stopped"
    specs = [
        (ZOMBIE_AUTOMATION, {"prefect.flow-run.heartbeat"},
         {"prefect.flow-run.heartbeat", "prefect.flow-run.Completed", "prefect.flow-run.Failed",
          "prefect.flow-run.Cancelled", "prefect.flow-run.Crashed"}),
        (ZOMBIE_AUTOMATION + " (before the first)", {"prefect.flow-run.Pending", "prefect.flow-run.Running"},
         _ALIVE),
    ]
    ids = []
    for name, after, expect in specs:
        with contextlib.suppress(ValueError):  # not there yet
            Automation.read(name=name).delete()
        automation = Automation(
            name=name,
            description=f"A flow run that sent no heartbeat and did not end for {within} s lost its process "
            "(killed worker, serve or machine): mark it Crashed, which frees its concurrency slot.",
            trigger=EventTrigger(
                after=after, expect=expect,
                match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
                # Only fpwatch's deployed runs (tagged): they send heartbeats every heartbeat_seconds;
                # other flows on the server may use Prefect's default (180 s) and must not be crashed.
                match_related=ResourceSpecification({"prefect.resource.id": [f"prefect.tag.{t}" for t in TAGS]}),
                for_each={"prefect.resource.id"}, posture=Posture.Proactive, threshold=1,
                within=timedelta(seconds=within),
            ),
            actions=[ChangeFlowRunState(state=StateType.CRASHED, message=message)],
        ).create()
        ids.append(str(automation.id))
    return ids[0]


def deploy_all(settings: Settings | None = None, pool: str | None = None) -> dict[str, Any]:
    """Register every deployment to the process work pool (created if missing) and the zombie automation."""
    settings = settings or get_settings()
    pool = pool or settings.work_pool
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    created = ensure_work_pool(pool)
    ids = {d.name: str(d.apply(work_pool_name=pool)) for d in build_deployments(settings, work_pool=True)}
    return {"pool": pool, "pool_created": created, "deployments": ids,
            "automation": ensure_zombie_automation(settings)}


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
    """Serve every deployment until SIGTERM or Ctrl-C (the flow runs execute in this machine's processes).

    Stopped, it ends the flow runs it has in flight and marks them Crashed at once (flows/jobs/shutdown.py),
    so their concurrency slots are free for the next run.
    """
    import asyncio

    from prefect.exceptions import TerminationSignal

    from flows.jobs.shutdown import CrashingRunner

    settings = settings or get_settings()
    pin_paths_in_env(settings)
    # Telemetry off unless the operator asked for it (DESIGN.md: offline it only logs DNS errors).
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Served runs inherit this environment: heartbeats for the zombie automation (a killed `serve`
    # leaves no run Running for ever, nor its concurrency slot taken).
    os.environ.update(heartbeat_env(settings))  # the automation's window assumes this frequency
    with contextlib.suppress(Exception):  # an old server without automations still serves
        ensure_zombie_automation(settings)
    # prefect.serve() with our Runner: its own stop leaves the runs in flight Running (shutdown.py).
    runner = CrashingRunner(pause_on_shutdown=False, limit=limit)
    deployments = build_deployments(settings)
    for deployment in deployments:
        runner.add_deployment(deployment)
    print(f"fpwatch serve: serving {', '.join(d.full_name for d in deployments)} "
          f"against {os.environ.get('PREFECT_API_URL') or 'a temporary local server'} (stop: Ctrl-C or SIGTERM)",
          flush=True)
    with contextlib.suppress(KeyboardInterrupt, TerminationSignal):
        asyncio.run(runner.start())
