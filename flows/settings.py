"""One typed settings object for fpwatch, read from FPWATCH_* environment variables (and `.env`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from flows.sources.http import FetchSettings

#: Files above this size are rejected unread: a news article is a few hundred KB of HTML at most,
#: so 10 MB only lets through dumps and binaries by mistake (issue 2 default).
DEFAULT_MAX_FILE_BYTES = 10_000_000

#: Articles per transform task: large enough that Prefect's 5-8 ms per task run is noise, small
#: enough that one batch's bodies, spaCy docs and mentions stay well under 1 GB.
DEFAULT_BATCH_SIZE = 500

#: Inputs per committed chunk: a chunk's frames (bodies, mentions, signatures) stay ~0.5 GB at
#: ~1,000-word articles, and a killed run loses at most one chunk's work (~4 minutes on 2 cores).
DEFAULT_CHUNK_SIZE = 2000

#: Time travel a month back (an analyst can reproduce last month's figures), while a month of
#: hourly runs' snapshots and replaced files are reclaimed (simulated: see bench/warehouse.py).
DEFAULT_SNAPSHOT_RETENTION_DAYS = 30
#: Nightly, after the reprocess (03:30) so that its replaced files are merged the same night.
DEFAULT_COMPACT_CRON = "15 4 * * *"

#: Hourly: news sites publish all day; an hour keeps the warehouse fresh at ~1 flow run/hour.
DEFAULT_INGEST_CRON = "0 * * * *"
#: Nightly, off the hour so it never meets the hourly ingest's start: re-runs outdated partitions.
DEFAULT_REPROCESS_CRON = "30 3 * * *"
#: A year of day partitions: 366 task runs (~25 s of Prefect overhead, DESIGN.md costs). Longer
#: ranges go in several runs, each of which can be retried on its own.
DEFAULT_MAX_BACKFILL_DAYS = 366
#: Half the inputs rejected means a source or a parser broke, not a few bad pages.
DEFAULT_MAX_REJECT_RATE = 0.5

# Scale-out (issue 9): work pools, backfill fan-out, heartbeats.
#: The Prefect work pool `fpwatch deploy` registers the deployments to (a process pool).
DEFAULT_WORK_POOL = "fpwatch"
#: Days per child flow run of a fanned-out backfill: a week of CC-NEWS-sized input (~3,000
#: articles/day) is ~10 min on one 2-core worker, long enough that the ~1.1 s + process start of a
#: flow run (~15 s with the imports) is noise, short enough that a retried chunk redoes little.
DEFAULT_BACKFILL_CHUNK_DAYS = 7
#: Child runs of one backfill at once across the pool (a deployment concurrency limit): one per
#: worker machine of a small team; raise it with the number of workers.
DEFAULT_BACKFILL_CONCURRENCY = 2
#: Flow-run heartbeats (PREFECT_FLOWS_HEARTBEAT_FREQUENCY, Prefect's minimum is 30 s) ...
DEFAULT_HEARTBEAT_SECONDS = 30
#: ... and the silence after which the zombie automation marks a run Crashed and frees its
#: concurrency slot: three missed heartbeats (a loaded machine may delay one, not three).
DEFAULT_ZOMBIE_AFTER_SECONDS = 90


class Settings(BaseSettings, FetchSettings):
    """Every tunable of a run. Environment: FPWATCH_<NAME> (e.g. FPWATCH_WAREHOUSE=/srv/fpwatch).

    The fetch fields (user_agent, max_bytes, timeouts, politeness, allow_private_hosts, ...) are
    declared once in flows.sources.http.FetchSettings and inherited here.
    """

    model_config = SettingsConfigDict(env_prefix="FPWATCH_", env_file=".env", extra="ignore")

    warehouse: Path = Field(Path("data"), description="Warehouse directory: catalog.sqlite, lake/ data files, logs.")
    catalog: str | None = Field(
        None, description="DuckLake catalog: empty = <warehouse>/catalog.sqlite; a PostgreSQL connection string "
        "(postgres:dbname=fpwatch host=db or postgresql://user@host/db) for several writers and machines.",
    )
    data_path: str | None = Field(
        None, description="Where data files go: empty = <warehouse>/lake/; a shared directory or s3:// URL.",
    )
    chunk_size: int = Field(
        DEFAULT_CHUNK_SIZE, gt=0, description="Inputs read, transformed and committed together (one transaction).",
    )
    memory_limit: str = Field(
        "4GB", description="DuckDB memory of a writing process before it spills to <warehouse>/tmp/ (DuckDB's own default is 80% of RAM).",
    )
    max_file_bytes: int = Field(DEFAULT_MAX_FILE_BYTES, gt=0, description="Inputs larger than this are rejected.")
    batch_size: int = Field(DEFAULT_BATCH_SIZE, gt=0, description="Articles per transform task.")
    ner_model: str | None = Field(None, description="spaCy pipeline to load (default: the installed en_core_web_sm).")
    ner_processes: int = Field(
        0, ge=0, description="Processes for spaCy NER on large batches (0 = one per core, capped at 2)."
    )
    transform_workers: int = Field(
        0, ge=0, le=64, description="Processes transforming batches when a run has several (0 = one per core, max 2)."
    )
    dask_address: str | None = Field(
        None, description="Scheduler of an existing Dask cluster (tcp://host:8786) for transform batches; "
        "empty = a local cluster of transform_workers processes when a chunk has several batches.",
    )
    snapshot_retention_days: int = Field(
        DEFAULT_SNAPSHOT_RETENTION_DAYS, ge=0, description="Days of snapshots `fpwatch compact` keeps for time travel.",
    )
    compact_cron: str = Field(
        DEFAULT_COMPACT_CRON, description="Cron schedule of the `compact` deployment (UTC); empty = no schedule.",
    )
    story_window_days: int = Field(3, ge=0, le=60, description="Days a story stays open for new articles.")
    # Operations (issue 6): schedules, backfills, data checks.
    ingest_cron: str = Field(
        DEFAULT_INGEST_CRON, description="Cron schedule of the `ingest` deployment (UTC); empty = no schedule."
    )
    ingest_paths: list[Path] = Field(
        default_factory=list, description="Folders the scheduled ingest reads new .txt/.html files from."
    )
    ingest_sources_file: Path | None = Field(
        None, description="Sources file (.toml/.yaml) the scheduled ingest fetches; outlet names for backfills."
    )
    reprocess_cron: str = Field(
        DEFAULT_REPROCESS_CRON,
        description="Cron schedule of the `reprocess` deployment (outdated partitions only); empty = no schedule.",
    )
    max_backfill_days: int = Field(
        DEFAULT_MAX_BACKFILL_DAYS, gt=0, description="Longest date range one backfill or reprocess run accepts."
    )
    work_pool: str = Field(
        DEFAULT_WORK_POOL, min_length=1, description="Prefect process work pool `fpwatch deploy` registers to.",
    )
    backfill_chunk_days: int = Field(
        DEFAULT_BACKFILL_CHUNK_DAYS, gt=0, le=366,
        description="Days per child flow run when a backfill runs on a work pool (fan-out).",
    )
    backfill_concurrency: int = Field(
        DEFAULT_BACKFILL_CONCURRENCY, gt=0, le=256,
        description="Child flow runs of a fanned-out backfill running at once (Prefect concurrency limit).",
    )
    heartbeat_seconds: int = Field(
        DEFAULT_HEARTBEAT_SECONDS, ge=30, le=3600,
        description="Seconds between flow-run heartbeats of deployed runs (PREFECT_FLOWS_HEARTBEAT_FREQUENCY).",
    )
    zombie_after_seconds: int = Field(
        DEFAULT_ZOMBIE_AFTER_SECONDS, ge=60, le=86400,
        description="A deployed run silent this long (no heartbeat, no end) is marked Crashed and frees its slot.",
    )
    max_reject_rate: float = Field(
        DEFAULT_MAX_REJECT_RATE, ge=0, le=1, description="Share of a run's inputs rejected above which the run fails."
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (environment read once)."""
    return Settings()
