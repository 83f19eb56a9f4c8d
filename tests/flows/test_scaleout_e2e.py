"""Scale-out end to end, all real processes on loopback: a PostgreSQL server (the Prefect server's
database and the DuckLake catalog), `prefect server start`, `fpwatch deploy` to a process work pool,
two `prefect worker start --pool` processes, a Dask scheduler with two Dask workers
(FPWATCH_DASK_ADDRESS). A 10-day backfill started as the UI's Custom run does fans out over the
workers and ends with the rows of a one-process backfill; then a worker is killed (with its flow
run, as when its machine dies) in the middle of a second backfill: the run it held is marked
Crashed by the heartbeat automation (not Running for ever), the parent starts that chunk again on
the other worker, and the warehouse converges to the same rows, no duplicates. About 4 minutes.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time
from pathlib import Path

import polars as pl
import pytest
from test_serve_e2e import (BIN, COMPARED, FINAL_STATES, REPO, _clean_env, _free_port, _rows, _stop, _wait_for,
                            _wait_until_healthy)

from flows.warehouse.store import Warehouse

pytestmark = pytest.mark.timeout(900)

SEEDS = REPO / "seeds"
DAYS = [dt.date(2021, 12, 1) + dt.timedelta(days=i) for i in range(10)]
POOL = "fpwatch-test-pool"
#: Short, so that the test sees a killed worker's run crash within two minutes (Prefect's minimum: 30 s).
HEARTBEAT_S, ZOMBIE_S = 30, 60
#: Prefect's polling, shortened for the test (the mechanisms are the same, the idle waits shorter):
#: a run that finds the backfill-chunk concurrency limit full is rescheduled this many seconds later
#: (server default 30 s), and a worker asks for scheduled runs this often (default 10 s). With the
#: defaults most of the backfills' wall time was waiting (chunks of ~5 s of work started ~20 s apart).
SLOT_WAIT_S, WORKER_QUERY_S = "2", "2"


def _seed_text(number: str) -> str:
    text = next(SEEDS.glob(f"{number}_*.txt")).read_text()
    return text.split(" ", 3)[3] if text.startswith(" date ") else text


def _corpus(folder: Path) -> Path:
    """Ten days of two articles each (the seeds re-dated: the same story and copies across days)."""
    folder.mkdir()
    for i, day in enumerate(DAYS):
        for n in (i % 5, (i + 2) % 5):
            (folder / f"{day}_{n:03d}.txt").write_text(f" date {day.isoformat()} " + _seed_text(f"{n:03d}"))
    return folder


def _popen(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(args, env=env, cwd=REPO, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True, text=True)


def _kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL a process and every descendant (a machine that dies: no goodbye to the server)."""
    import psutil

    try:
        parent = psutil.Process(proc.pid)
        family = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for p in family:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    proc.wait(30)


@pytest.fixture(scope="module")
def own_postgres():
    """A PostgreSQL server of this module's own: the session's has served every other test's
    catalogs by now (in a full run its TCP accepts timed out under the Prefect server's pool)."""
    from postgres_server import started_server

    with started_server() as server:
        yield server


@pytest.fixture(scope="module")
def cluster(own_postgres, tmp_path_factory):
    postgres_server = own_postgres
    root = tmp_path_factory.mktemp("scaleout")
    postgres_server.create_database("prefect_e2e")
    postgres_server.create_database("lake_e2e")
    procs: list[subprocess.Popen] = []
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    server = _popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        _clean_env(
            PREFECT_HOME=str(root / "server-home"), PREFECT_UI_ENABLED="false",
            PREFECT_API_DATABASE_CONNECTION_URL=(
                f"postgresql+asyncpg://postgres@127.0.0.1:{postgres_server.port}/prefect_e2e"),
            # A loaded 2-core machine: Prefect's 5 s connection and statement timeouts are too tight.
            PREFECT_SERVER_DATABASE_CONNECTION_TIMEOUT="60", PREFECT_SERVER_DATABASE_TIMEOUT="60",
            PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS=SLOT_WAIT_S,
        ),
        root / "server.log",
    )
    procs.append(server)
    try:
        client = _wait_until_healthy(api, server, "prefect server on PostgreSQL")
        dask_port = _free_port()
        dask_env = _clean_env(PREFECT_API_URL=api, PREFECT_HOME=str(root / "dask-home"), OMP_NUM_THREADS="1")
        procs.append(_popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(dask_port),
                             "--no-dashboard"], dask_env, root / "dask-scheduler.log"))
        for i in (1, 2):
            procs.append(_popen([str(BIN / "dask"), "worker", f"tcp://127.0.0.1:{dask_port}", "--nworkers", "1",
                                 "--nthreads", "1", "--no-dashboard", "--name", f"dask-{i}"],
                                dask_env, root / f"dask-worker-{i}.log"))
        lake = root / "lake"
        env = _clean_env(
            PREFECT_API_URL=api, PREFECT_HOME=str(root / "client-home"),
            FPWATCH_WAREHOUSE=str(lake), FPWATCH_CATALOG=postgres_server.catalog("lake_e2e"),
            FPWATCH_INGEST_CRON="", FPWATCH_REPROCESS_CRON="", FPWATCH_COMPACT_CRON="",
            FPWATCH_WORK_POOL=POOL, FPWATCH_BACKFILL_CHUNK_DAYS="2", FPWATCH_BACKFILL_CONCURRENCY="2",
            FPWATCH_HEARTBEAT_SECONDS=str(HEARTBEAT_S), FPWATCH_ZOMBIE_AFTER_SECONDS=str(ZOMBIE_S),
            FPWATCH_DASK_ADDRESS=f"tcp://127.0.0.1:{dask_port}", FPWATCH_BATCH_SIZE="2",
        )
        corpus = _corpus(root / "corpus")
        # The one-process reference is built meanwhile (its own SQLite catalog, no Dask, no pool).
        reference = root / "one-process"
        ref_env = {k: v for k, v in env.items() if k not in ("FPWATCH_CATALOG", "FPWATCH_DASK_ADDRESS")}
        # FPWATCH_TRANSFORM_WORKERS=1: its batches are transformed in its own process, one after the
        # other (the default starts a local Dask cluster of 2 workers, each loading spaCy, on the same
        # 2 cores as the cluster this fixture is starting).
        ref_env.update(FPWATCH_WAREHOUSE=str(reference), PREFECT_HOME=str(root / "reference-home"),
                       FPWATCH_TRANSFORM_WORKERS="1")
        fpwatch = BIN / "fpwatch"
        one_process = _popen(["sh", "-c", f"'{fpwatch}' run '{corpus}' && '{fpwatch}' backfill "
                              f"--start {DAYS[0]} --end {DAYS[-1]}"], ref_env, root / "one-process.log")
        procs.append(one_process)
        # The lake the backfills reprocess, written while the deployments are registered (neither
        # needs the other; `fpwatch run` is not a tagged deployment run, so no automation watches it).
        first_run = _popen([str(fpwatch), "run", str(corpus)], {**env, "PREFECT_HOME": str(root / "first-run-home")},
                           root / "first-run.log")
        procs.append(first_run)
        deployed = subprocess.run([str(BIN / "fpwatch"), "deploy"], env=env, cwd=REPO, capture_output=True,
                                  text=True, timeout=300)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        workers = {}
        for i in (1, 2):
            workers[i] = _popen([str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--name", f"worker-{i}",
                                 "--limit", "2"],  # a worker takes 2 runs at most: runs spread over both
                                {**env, "PREFECT_HOME": str(root / f"worker-{i}-home"),
                                 "PREFECT_WORKER_QUERY_SECONDS": WORKER_QUERY_S}, root / f"worker-{i}.log")
            procs.append(workers[i])
        assert first_run.wait(300) == 0, (root / "first-run.log").read_text()[-3000:]
        yield {"api": api, "client": client, "env": env, "root": root, "corpus": corpus, "lake": lake,
               "workers": workers, "catalog": postgres_server.catalog("lake_e2e"),
               "reference": reference, "one_process": one_process}
    finally:
        for proc in reversed(procs):
            _stop(proc, signal.SIGTERM)


@pytest.fixture(scope="module")
def one_process(cluster):
    """The same corpus through `fpwatch run` and an in-process `fpwatch backfill` (SQLite catalog)."""
    proc = cluster["one_process"]
    assert proc.wait(600) == 0, (cluster["root"] / "one-process.log").read_text()[-3000:]
    wh = cluster["reference"]
    store = Warehouse(wh, catalog=None, data_path=str(wh / "lake"))
    return {t: _rows(store, t) for t in COMPARED}


def _lake(cluster) -> Warehouse:
    return Warehouse(cluster["lake"], catalog=cluster["catalog"], data_path=str(cluster["lake"] / "lake"))


def _backfill(cluster, parameters: dict) -> str:
    client = cluster["client"]
    deployment = client.get("/deployments/name/backfill/fpwatch-backfill").json()
    created = client.post(f"/deployments/{deployment['id']}/create_flow_run", json={"parameters": parameters})
    assert created.status_code == 201, created.text
    return created.json()["id"]


def _run(cluster, run_id: str) -> dict:
    return cluster["client"].get(f"/flow_runs/{run_id}").json()


def _finished(cluster, run_id: str, timeout: float = 400) -> dict:
    def done():
        run = _run(cluster, run_id)
        return run if run["state"] and run["state"]["type"] in FINAL_STATES else None

    return _wait_for(done, timeout, f"flow run {run_id}")


def _chunk_runs(cluster, since: str) -> list[dict]:
    runs = cluster["client"].post("/flow_runs/filter", json={
        "flows": {"name": {"any_": ["backfill-chunk"]}}, "flow_runs": {"start_time": {"after_": since}}}).json()
    return runs


def test_deploy_registers_every_deployment_to_the_pool(cluster):
    client = cluster["client"]
    pool = client.get(f"/work_pools/{POOL}").json()
    assert pool["type"] == "process"
    names = {d["name"]: d for d in client.post("/deployments/filter", json={}).json()}
    assert {"fpwatch-ingest", "fpwatch-backfill", "fpwatch-reprocess", "fpwatch-compact",
            "fpwatch-backfill-chunk"} <= set(names)
    assert {d["work_pool_name"] for d in names.values()} == {POOL}
    form = names["fpwatch-backfill"]["parameter_openapi_schema"]["properties"]
    assert set(form) == {"start", "end", "sources", "mode"}  # no warehouse path for analysts
    assert names["fpwatch-backfill-chunk"]["global_concurrency_limit"]["limit"] == 2
    automations = client.post("/automations/filter", json={}).json()
    assert any("heartbeat" in a["name"] for a in automations)


def test_a_fanned_out_backfill_equals_a_one_process_backfill(cluster, one_process):
    parent = _backfill(cluster, {"start": str(DAYS[0]), "end": str(DAYS[-1])})
    run = _finished(cluster, parent)
    assert run["state"]["type"] == "COMPLETED", run["state"]
    client = cluster["client"]
    artifacts = client.post("/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [parent]}}}).json()
    [report] = [a for a in artifacts if a["key"] == "fpwatch-backfill-report"]
    rows = [line for line in report["data"].splitlines() if line.startswith("| 2021-12-")]
    assert len(rows) == 5 and all("| completed |" in r for r in rows), report["data"]
    store = _lake(cluster)
    for table, expected in one_process.items():
        assert _rows(store, table).equals(expected), table
    runs = store.read("runs").filter(pl.col("flow") == "backfill")
    assert runs.height == 5 and set(runs["status"]) == {"completed"}  # one `runs` row per chunk
    # Transform batches went to the Dask cluster: its workers ran transform-batch task runs.
    logs = "".join((cluster["root"] / f"dask-worker-{i}.log").read_text() for i in (1, 2))
    assert "transform-batch" in logs or "Finished in state Completed" in logs, logs[-2000:]


def test_a_killed_worker_leaves_no_run_running_and_a_rerun_converges(cluster, one_process):
    client = cluster["client"]
    since = dt.datetime.now(dt.timezone.utc).isoformat()
    parent = _backfill(cluster, {"start": str(DAYS[0]), "end": str(DAYS[-1])})

    def a_running_chunk():
        running = [r for r in _chunk_runs(cluster, since) if r["state"]["type"] == "RUNNING"]
        return running[0] if running else None

    victim = _wait_for(a_running_chunk, 300, "a chunk run to start")
    # Which worker holds it: the worker whose log names the flow run.
    holder = next(i for i, _ in cluster["workers"].items()
                  if victim["id"] in (cluster["root"] / f"worker-{i}.log").read_text())
    _kill_tree(cluster["workers"][holder])
    killed_at = time.monotonic()
    crashed = _wait_for(lambda: (r := _run(cluster, victim["id"]))["state"]["type"] != "RUNNING" and r,
                        HEARTBEAT_S + ZOMBIE_S + 90, "the killed run to leave Running")
    assert crashed["state"]["type"] == "CRASHED", crashed["state"]
    print(f"killed run marked {crashed['state']['type']} after {time.monotonic() - killed_at:.0f} s")
    run = _finished(cluster, parent, timeout=500)
    if run["state"]["type"] == "CRASHED":  # the parent ran on the killed worker too: run the backfill again
        assert parent in (cluster["root"] / f"worker-{holder}.log").read_text()
        run = _finished(cluster, _backfill(cluster, {"start": str(DAYS[0]), "end": str(DAYS[-1])}), timeout=500)
    assert run["state"]["type"] == "COMPLETED", run["state"]  # the chunk ran again on the other worker

    def settled():  # chunks of a crashed parent still run (and write the same rows): wait for them
        busy = client.post("/flow_runs/filter", json={"flow_runs": {"state": {"type": {
            "any_": ["RUNNING", "PENDING", "SCHEDULED", "CANCELLING"]}}}}).json()
        return not busy

    _wait_for(settled, 400, "every flow run to end (none Running for ever)")
    store = _lake(cluster)
    for table, expected in one_process.items():
        assert _rows(store, table).equals(expected), table
    articles = store.read("articles")
    assert articles["article_id"].n_unique() == articles.height == 20
