"""Shared fixtures: one Prefect test harness per session, and one warehouse built from the seeds."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# Offline: no telemetry, no analytics heartbeat (DESIGN.md, known traps).
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"

import pytest

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"


@pytest.fixture(scope="session")
def prefect_harness():
    """A real Prefect API (temporary database) for every flow test in the session (setup ~10 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="session")
def prefect_api_env(prefect_harness) -> dict[str, str]:
    """Environment that points a `fpwatch` subprocess at the session's Prefect API.

    Without it every CLI run starts a temporary server of its own (ephemeral mode: ~8 s wall and
    ~7.5 s CPU each here, measured 2026-12). Tests whose subject is the warehouse, not ephemeral
    mode, use it; tests of ephemeral mode itself (its server's lifecycle, one-line errors on the
    default path) leave PREFECT_API_URL unset.
    """
    from prefect.settings import PREFECT_API_URL

    return {"PREFECT_API_URL": PREFECT_API_URL.value()}


@pytest.fixture(scope="session")
def seed_run(prefect_harness, tmp_path_factory):
    """Run the main flow once on a copy of the seeds; returns (summary, warehouse path)."""
    from flows.jobs.run import run_flow

    root = tmp_path_factory.mktemp("seed-warehouse")
    inputs = root / "seeds"
    shutil.copytree(SEEDS, inputs)
    summary = run_flow(paths=[str(inputs)], warehouse=str(root / "data"))
    return summary, root / "data"


@pytest.fixture(scope="session")
def seed_db(seed_run):
    """A read-only DuckDB connection to the seed warehouse, as an analyst opens it."""
    from flows.warehouse.store import connect_readonly

    con = connect_readonly(seed_run[1])
    yield con
    con.close()


# A real PostgreSQL server for the shared-catalog tests (tests/postgres_server.py): `postgres_dsn`
# is the session's catalog setting, `pg_catalog` an empty database per test. Skips without the
# PostgreSQL binaries, fails when CI=true.
from postgres_server import pg_catalog, postgres_dsn, postgres_server  # noqa: E402,F401
