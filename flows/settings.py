"""One typed settings object for fpwatch, read from FPWATCH_* environment variables (and `.env`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Files above this size are rejected unread: a news article is a few hundred KB of HTML at most,
#: so 10 MB only lets through dumps and binaries by mistake (issue 2 default).
DEFAULT_MAX_FILE_BYTES = 10_000_000

#: Articles per transform task: large enough that Prefect's 5-8 ms per task run is noise, small
#: enough that one batch's bodies, spaCy docs and mentions stay well under 1 GB.
DEFAULT_BATCH_SIZE = 500


class Settings(BaseSettings):
    """Every tunable of a run. Environment: FPWATCH_<NAME> (e.g. FPWATCH_WAREHOUSE=/srv/fpwatch)."""

    model_config = SettingsConfigDict(env_prefix="FPWATCH_", env_file=".env", extra="ignore")

    warehouse: Path = Field(Path("data"), description="Warehouse directory (lake/ + warehouse.duckdb).")
    max_file_bytes: int = Field(DEFAULT_MAX_FILE_BYTES, gt=0, description="Inputs larger than this are rejected.")
    batch_size: int = Field(DEFAULT_BATCH_SIZE, gt=0, description="Articles per transform task.")
    ner_model: str | None = Field(None, description="spaCy pipeline to load (default: the installed en_core_web_sm).")
    ner_processes: int = Field(
        0, ge=0, description="Processes for spaCy NER on large batches (0 = one per core, capped at 2)."
    )
    story_window_days: int = Field(3, ge=0, le=60, description="Days a story stays open for new articles.")
    allow_private_hosts: bool = Field(False, description="Let fetch reach loopback/private addresses (tests, intranet).")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (environment read once)."""
    return Settings()
