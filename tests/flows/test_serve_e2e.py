"""End to end, as an operator runs fpwatch: a real `prefect server start`, `fpwatch serve`, and a
backfill triggered with the REST call the UI's "Run > Custom run" makes, while an analyst keeps
querying the lake through a read-only, sandboxed connection. About a minute: one module, one server.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import polars as pl
import pytest

from flows.warehouse.store import Warehouse

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(600)

BIN = Path(sys.executable).parent
#: A fresh server creates its database in ~14 s here (DESIGN.md); allow for a loaded machine.
SERVER_START_TIMEOUT_S = 180
RUN_TIMEOUT_S = 300
#: Seconds between serve's queries for scheduled runs (Prefect's PREFECT_RUNNER_POLL_FREQUENCY, default 10).
RUNNER_POLL_S = "2"
FINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
#: Every deployment `fpwatch serve` registers (flows/jobs/deployments.py).
SERVED = {"fpwatch-ingest", "fpwatch-backfill", "fpwatch-reprocess", "fpwatch-compact"}
DAY = datetime.date(2021, 12, 12)  # the seed partition a December backfill rebuilds
#: Columns that differ between two runs that wrote the same rows, and the tables compared row for row.
LINEAGE = ["run_id", "ingested_at", "first_seen_at", "rejected_at"]
COMPARED = ("articles", "raw_inputs", "mentions", "article_topics", "article_signatures", "stories", "entities")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _clean_env(**extra: str) -> dict[str, str]:
    """This environment without the test harness's Prefect settings, telemetry off, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "FPWATCH_"))}
    env.update(DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false")
    env.update(extra)
    return env


def _stop(proc: subprocess.Popen, sig: int = signal.SIGINT) -> str:
    """Stop a process group this test started; return its output."""
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    return proc.stdout.read() if proc.stdout else ""


def _rows(store: Warehouse, table: str) -> pl.DataFrame:
    """A table's rows without lineage columns, sorted: equal for two runs that wrote the same data."""
    frame = store.read(table).drop(LINEAGE, strict=False)
    return frame.sort(frame.columns)


def _wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: process exited with {proc.returncode}:\n{proc.stdout.read()[-3000:]}")
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _wait_until_healthy(api: str, server: subprocess.Popen, what: str) -> httpx.Client:
    """A client of the Prefect API at `api` once its server answers /health."""
    client = httpx.Client(base_url=api, timeout=30)

    def healthy() -> bool:
        try:
            return client.get("/health").status_code == 200
        except httpx.HTTPError:
            return False

    _wait_for(healthy, SERVER_START_TIMEOUT_S, what, server)
    return client


def _start_serve(api: str, home: Path, warehouse: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "fpwatch"), "serve"],
        env=_clean_env(
            PREFECT_API_URL=api, PREFECT_HOME=str(home), FPWATCH_WAREHOUSE=str(warehouse),
            FPWATCH_INGEST_CRON="", FPWATCH_REPROCESS_CRON="", FPWATCH_COMPACT_CRON="",
            # serve asks the server for scheduled runs every 10 s by default: each custom run of the
            # tests waited up to that long before it started. Same runner, shorter idle wait.
            PREFECT_RUNNER_POLL_FREQUENCY=RUNNER_POLL_S,
        ),
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )


@pytest.fixture(scope="module")
def served(seed_run, tmp_path_factory):
    """A Prefect server on a free loopback port with a temp PREFECT_HOME, and `fpwatch serve` on a seed warehouse.

    `served["serve"]()` is the serve process now; `served["restart_serve"]()` starts another one (after a
    test stopped it).
    """
    root = tmp_path_factory.mktemp("e2e")
    warehouse = root / "wh"
    shutil.copytree(seed_run[1], warehouse)
    Warehouse(warehouse).ensure_catalog()  # current before the analyst attaches it read-only
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=_clean_env(PREFECT_HOME=str(root / "prefect-home"), PREFECT_UI_ENABLED="false"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    state: dict = {}
    try:
        client = _wait_until_healthy(api, server, "prefect server")
        state["serve"] = _start_serve(api, root / "serve-home", warehouse)

        def deployments() -> dict[str, str]:
            found = client.post("/deployments/filter", json={}).json()
            names = {d["name"]: d["id"] for d in found}
            return names if SERVED <= set(names) else {}

        ids = _wait_for(deployments, 120, "fpwatch serve to register its deployments", state["serve"])

        def restart() -> subprocess.Popen:
            state["serve"] = _start_serve(api, root / "serve-home", warehouse)
            return state["serve"]

        yield {"api": api, "client": client, "warehouse": warehouse, "deployments": ids,
               "serve": lambda: state["serve"], "restart_serve": restart}
    finally:
        if state.get("serve") is not None:
            _stop(state["serve"])
        _stop(server, signal.SIGTERM)


def _create_run(client: httpx.Client, deployment_id: str, body: dict) -> str:
    """POST /deployments/{id}/create_flow_run; a busy SQLite server may answer 503 once: retry as a user would."""
    for _ in range(10):
        created = client.post(f"/deployments/{deployment_id}/create_flow_run", json=body)
        if created.status_code != 503:
            break
        time.sleep(1)
    assert created.status_code == 201, created.text
    return created.json()["id"]


def _custom_run(served, parameters: dict) -> dict:
    """What the UI's Run > Custom run does: create a flow run of the deployment with these parameters."""
    client = served["client"]
    deployment_id = served["deployments"]["fpwatch-backfill"]
    run_id = _create_run(client, deployment_id, {"parameters": parameters})

    def finished():
        run = client.get(f"/flow_runs/{run_id}").json()
        return run if run["state"] and run["state"]["type"] in FINAL_STATES else None

    return _wait_for(finished, RUN_TIMEOUT_S, f"flow run {run_id}")


def test_serve_registers_every_deployment_with_its_limits(served):
    client = served["client"]
    names = served["deployments"]
    assert set(names) == SERVED
    ingest = client.get("/deployments/name/ingest/fpwatch-ingest").json()
    assert ingest["global_concurrency_limit"]["limit"] == 1
    assert ingest["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"
    backfill = client.get("/deployments/name/backfill/fpwatch-backfill").json()
    schema = backfill["parameter_openapi_schema"]
    assert set(schema["required"]) == {"start", "end"}
    assert schema["properties"]["start"]["format"] == "date"
    assert "reprocess" in str(schema["properties"]["mode"]) and "refetch" in str(schema["properties"]["mode"])


def _chunks(warehouse: Path, run_id: str) -> list[int]:
    """Chunk numbers of the commits a run tagged (ducklake_snapshots commit_extra_info)."""
    extra = Warehouse(warehouse).query(
        "select commit_extra_info from ducklake_snapshots('lake') where commit_extra_info is not null "
        "order by snapshot_id"
    )["commit_extra_info"]
    tags = [json.loads(e) for e in extra.to_list()]
    return [t["chunk"] for t in tags if t.get("run_id") == run_id]


def _lake_state(warehouse: Path) -> tuple[int, int]:
    """The newest snapshot and the number of `runs` rows: any write changes the first."""
    store = Warehouse(warehouse)
    return store.snapshot_id(), store.read("runs").height


def test_backfill_from_the_ui_rebuilds_partitions_while_an_analyst_reads(served, tmp_path):
    warehouse = served["warehouse"]
    stop = tmp_path / "stop-reading"
    # The analyst queries the lake again and again through one read-only, sandboxed session while
    # the backfill commits: every answer is a whole snapshot (5 articles, 2 of them on 2021-12-12).
    analyst = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import json, os, time
            from flows.warehouse.store import connect_readonly
            con = connect_readonly({str(warehouse)!r})
            def counts():
                return con.sql(
                    "select count(*), count(*) filter (where partition_date = date '{DAY}'), "
                    "(select max(snapshot_id) from ducklake_snapshots('lake')) from articles"
                ).fetchall()[0]
            print(counts()[0], flush=True)
            seen, snapshots, reads = set(), set(), 0
            while not os.path.exists({str(stop)!r}):
                total, day, snapshot = counts()
                seen.add((total, day))
                snapshots.add(snapshot)
                reads += 1
                time.sleep(0.05)
            print(json.dumps({{"seen": sorted(seen), "snapshots": len(snapshots), "reads": reads}}), flush=True)
            print(con.sql("select count(*) from articles where partition_date = date '{DAY}'").fetchall()[0][0])
            print(con.sql("select max(flow) from runs where flow = 'backfill'").fetchall()[0][0])
        """)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert analyst.stdout.readline().strip() == "5", analyst.stderr.read() if analyst.poll() is not None else ""
        run = _custom_run(served, {"start": "2021-12-01", "end": "2021-12-31", "mode": "reprocess"})
        assert run["state"]["type"] == "COMPLETED", run["state"]
        stop.touch()
        out, err = analyst.communicate(timeout=60)
        assert analyst.returncode == 0, err
        reading, day_count, flow = out.splitlines()
        reading = json.loads(reading)
        assert reading["seen"] == [[5, 2]], reading  # never a partly rebuilt day
        assert reading["snapshots"] > 1, reading  # the session read across the backfill's commits
        assert [day_count, flow] == ["2", "backfill"]  # and the held session sees the new data
    finally:
        analyst.kill()

    store = Warehouse(warehouse)
    day = store.query("select article_id, run_id from articles where partition_date = $d", {"d": DAY})
    assert day.height == 2 and set(day["run_id"]) == {run["id"]}
    runs = store.read("runs").filter(pl.col("run_id") == run["id"])
    assert runs["flow"].to_list() == ["backfill"] and runs["status"].to_list() == ["completed"]
    assert runs["partitions"].to_list() == [[DAY]] and runs["articles_written"].to_list() == [2]

    client = served["client"]
    artifacts = client.post("/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [run["id"]]}}}).json()
    [report] = [a for a in artifacts if a["key"] == "fpwatch-backfill-report"]
    assert report["type"] == "markdown"
    for part in ("# fpwatch backfill run: completed", "**Partitions replaced:** 2021-12-12", "## Top entities",
                 "## Data checks", "| article_doubled | pass |"):
        assert part in report["data"], part

    # 31 days of 2 inputs are one chunk: one transform, one link and one commit task, then the checks.
    chunks = _chunks(warehouse, run["id"])
    assert chunks == [1]

    def task_runs():  # task runs reach the server as events, shortly after the flow run ends
        found = client.post("/task_runs/filter", json={"flow_runs": {"id": {"any_": [run["id"]]}}}).json()
        return found if len(found) >= 4 else None

    tasks = _wait_for(task_runs, 60, "the backfill's task runs to be recorded")
    names = sorted(t["name"].rsplit("-", 1)[0] for t in tasks)
    assert names == ["commit-chunk", "data-checks", "link-articles", "transform-batch"], names
    assert names.count("commit-chunk") == len(chunks)


def test_bad_parameters_from_the_ui_fail_at_once_and_write_nothing(served):
    before = _lake_state(served["warehouse"])
    run = _custom_run(served, {"start": "2021-12-31", "end": "2021-12-01"})
    assert run["state"]["type"] == "FAILED"
    assert "end (2021-12-01) is before start (2021-12-31)" in run["state"]["message"]
    # The server does not check `format: date` (DESIGN.md): the flow's own validation must.
    run = _custom_run(served, {"start": "2021-12-41", "end": "2021-12-31"})
    assert run["state"]["type"] == "FAILED"
    assert "start" in run["state"]["message"]
    assert _lake_state(served["warehouse"]) == before  # no snapshot, no `runs` row


def test_a_flood_of_late_ingest_runs_becomes_one_catch_up_run(served):
    """A serve that was down for hours finds its late runs: one runs and catches up, the rest are cancelled."""
    client = served["client"]
    deployment_id = served["deployments"]["fpwatch-ingest"]
    now = datetime.datetime.now(datetime.timezone.utc)
    late = [
        _create_run(client, deployment_id, {"state": {
            "type": "SCHEDULED", "name": "Late",
            "state_details": {"scheduled_time": (now - datetime.timedelta(hours=h)).isoformat()},
        }})
        for h in (4, 3, 2, 1)
    ]

    def settled():
        runs = [client.get(f"/flow_runs/{run_id}").json() for run_id in late]
        types = [r["state"]["type"] for r in runs]
        return types if all(t in FINAL_STATES for t in types) else None

    types = _wait_for(settled, RUN_TIMEOUT_S, "the late ingest runs to settle")
    assert sorted(types) == ["CANCELLED", "CANCELLED", "CANCELLED", "COMPLETED"], types


def test_a_stopped_serve_crashes_its_run_at_once_and_the_next_backfill_gets_the_slot(served):
    """SIGTERM to `fpwatch serve` mid-backfill: the run is Crashed within seconds (not Running until the
    zombie automation, 75-90 s), the next backfill is not held behind its concurrency slot, and the
    warehouse ends as before: nothing doubled, nothing torn."""
    from flows.jobs.shutdown import STOP_GRACE_SECONDS

    client, warehouse = served["client"], served["warehouse"]
    before = {t: _rows(Warehouse(warehouse), t) for t in COMPARED}
    deployment_id = served["deployments"]["fpwatch-backfill"]
    parameters = {"start": "2021-12-01", "end": "2021-12-31", "mode": "reprocess"}
    run_id = _create_run(client, deployment_id, {"parameters": parameters})
    _wait_for(lambda: client.get(f"/flow_runs/{run_id}").json()["state"]["type"] == "RUNNING", RUN_TIMEOUT_S,
              "the backfill to run")
    time.sleep(1)  # inside the run (~20 s here: spaCy loads, the day is transformed and committed)
    serve = served["serve"]()
    os.kill(serve.pid, signal.SIGTERM)  # what systemd, docker stop or `kill` send
    stopped = time.monotonic()
    # The run's own process may report Failed or Crashed first ("Query interrupted", "aborted by a
    # termination signal"); serve then sets Crashed with the reason.
    seen = []

    def crashed_by_serve():
        state = client.get(f"/flow_runs/{run_id}").json()["state"]
        seen.append((state["type"], state["message"]))
        return state if state["type"] == "CRASHED" and "fpwatch serve" in (state["message"] or "") else None

    try:
        state = _wait_for(crashed_by_serve, STOP_GRACE_SECONDS + 15, "serve to mark its run Crashed")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; states seen: {seen[-3:]}") from None
    seconds = time.monotonic() - stopped
    assert "was stopped (SIGTERM) while this run was in flight" in state["message"], state
    print(f"stopped run Crashed {seconds:.1f} s after SIGTERM")
    assert serve.wait(30) == 0

    served["restart_serve"]()
    rerun = _custom_run(served, parameters)
    assert rerun["state"]["type"] == "COMPLETED", rerun["state"]
    history = client.get("/flow_run_states/", params={"flow_run_id": rerun["id"]}).json()
    assert "AwaitingConcurrencySlot" not in {s["name"] for s in history}, history  # the slot was free
    store = Warehouse(warehouse)
    for table, rows in before.items():
        assert _rows(store, table).equals(rows), table
    articles = store.read("articles")
    assert articles["article_id"].n_unique() == articles.height == 5
    runs = store.read("runs").filter(pl.col("run_id") == rerun["id"])
    assert runs["status"].to_list() == ["completed"]
