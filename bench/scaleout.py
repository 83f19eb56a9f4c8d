"""Scale-out: the same 20-day backfill on one work-pool worker, two workers, and two workers + a Dask cluster.

Everything real, on loopback: a throwaway PostgreSQL server (tests/postgres_server.py) holds the
Prefect server's database and the DuckLake catalog; `prefect server start`; `fpwatch deploy`;
`prefect worker start --pool` processes; for the third setup a Dask scheduler and two Dask workers
(FPWATCH_DASK_ADDRESS). The corpus is N AllSides articles (../shared/eval, or FPWATCH_EVAL_DIR)
spread over 20 days with ` date` headers; `fpwatch run` loads them once (not timed), then each setup
runs the same backfill (mode reprocess: every input re-transformed) started as the UI does.

Printed per setup: wall seconds of the backfill (parent run), CPU-seconds of every process the
setup runs (workers, flow runs, Dask; sampled with psutil), articles/s, articles/s per core used
(CPU-seconds / wall), and Prefect's overhead share: 1 - (seconds the chunks spent in the pipeline,
from their `runs` rows) / (seconds their flow runs were Running; the wait for a concurrency
slot is not counted). Then the PostgreSQL catalog's commit rate: small commits by 1 and 2 writers.

Setups: `1 worker` (one worker, FPWATCH_BACKFILL_CONCURRENCY=1, one transform process per chunk),
`2 workers` (two workers, concurrency 2, one transform process per chunk), `2 workers + dask`
(two workers, concurrency 2, transform batches on a 2-process Dask cluster).

Usage: .venv/bin/python bench/scaleout.py [--articles 600] [--days 20] [--chunk-days 5] [--eval-dir DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from _evaldata import eval_dir as find_eval_dir  # noqa: E402

BIN = Path(sys.executable).parent
START = dt.date(2022, 1, 1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "FPWATCH_"))}
    env.update(DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false", **extra)
    return env


class CpuMeter:
    """CPU-seconds of process trees, sampled (a process's last sample counts when it has ended)."""

    def __init__(self) -> None:
        self.roots: list[int] = []
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> None:
        import psutil

        for root in self.roots:
            try:
                procs = [psutil.Process(root)]
                procs += procs[0].children(recursive=True)
            except psutil.NoSuchProcess:
                continue
            for p in procs:
                try:
                    t = p.cpu_times()
                    self.seen[p.pid] = t.user + t.system
                except psutil.NoSuchProcess:
                    pass

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            self._sample()

    def start(self) -> "CpuMeter":
        self._thread.start()
        return self

    def total(self) -> float:
        self._sample()
        return sum(self.seen.values())

    def stop(self) -> None:
        self._stop.set()


def _popen(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(args, env=env, cwd=REPO, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise RuntimeError(f"timed out waiting for {what}")


def write_corpus(folder: Path, eval_dir: Path, n: int, days: int) -> int:
    folder.mkdir(parents=True)
    written = 0
    with gzip.open(eval_dir / "corpus" / "allsides_foreign_policy.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            if written >= n:
                break
            text = (json.loads(line).get("content_original") or "").strip()
            if len(text.split()) < 50:
                continue
            day = START + dt.timedelta(days=written % days)
            (folder / f"{written:05d}.txt").write_text(f" date {day.isoformat()} {text}")
            written += 1
    return written


def run_backfill(api: str, days: int, timeout: float = 3600) -> dict:
    import httpx

    client = httpx.Client(base_url=api, timeout=30)
    deployment = client.get("/deployments/name/backfill/fpwatch-backfill").json()
    end = START + dt.timedelta(days=days - 1)
    created = client.post(f"/deployments/{deployment['id']}/create_flow_run",
                          json={"parameters": {"start": START.isoformat(), "end": end.isoformat()}}).json()

    def done():
        run = client.get(f"/flow_runs/{created['id']}").json()
        return run if run["state"]["type"] in {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"} else None

    run = _wait(done, timeout, "the backfill")
    children = client.post("/flow_runs/filter", json={"flows": {"name": {"any_": ["backfill-chunk"]}},
                                                      "flow_runs": {"start_time": {"after_": run["start_time"]}}}).json()
    return {"run": run, "children": children}


def overhead_share(children: list[dict], store) -> float:
    """1 - pipeline seconds (the chunks' `runs` rows) / seconds the chunk runs were Running.

    What is left is Prefect's part inside a run (engine, task runs, heartbeats) plus the run's own
    bookkeeping (data checks, report artifact); the wait for a concurrency slot is not counted.
    """
    import polars as pl

    ids = [c["id"] for c in children]
    rows = store.read("runs").filter(pl.col("run_id").is_in(ids))
    inside = sum((r["finished_at"] - r["started_at"]).total_seconds() for r in rows.iter_rows(named=True))
    total = sum((dt.datetime.fromisoformat(c["end_time"]) - dt.datetime.fromisoformat(c["start_time"])).total_seconds()
                for c in children if c.get("end_time") and c.get("start_time"))
    return 1 - inside / total if total else float("nan")


def commit_rate(catalog: str, root: Path, writers: int, commits: int = 30) -> float:
    """Small commits (one row into a scratch table) per second over `writers` threads, each its own connection."""
    from flows.warehouse.store import Warehouse

    Warehouse(root, catalog=catalog, data_path=str(root / "lake")).ensure_catalog()

    def one(i: int) -> None:
        store = Warehouse(root, catalog=catalog, data_path=str(root / "lake"))
        store.commit(lambda cur: cur.execute("create table if not exists bench_commits (w int, n int)"), what="t")
        for n in range(commits):
            store.commit(lambda cur, n=n: cur.execute("insert into bench_commits values ($w, $n)", {"w": i, "n": n}),
                         what="bench commit")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(writers)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return writers * commits / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eval-dir")
    ap.add_argument("--articles", type=int, default=600)
    ap.add_argument("--days", type=int, default=20)
    ap.add_argument("--chunk-days", type=int, default=5)
    ap.add_argument("--setups", default="1 worker,2 workers,2 workers + dask")
    args = ap.parse_args(argv)
    eval_dir = find_eval_dir(args.eval_dir)
    if not (eval_dir / "corpus" / "allsides_foreign_policy.jsonl.gz").exists():
        print(f"skipped: no evaluation data at {eval_dir}")
        return 0
    from postgres_server import PostgresServer

    from flows.warehouse.store import Warehouse

    base = Path(tempfile.mkdtemp(prefix="fpwatch-scaleout-"))
    pg = PostgresServer.create()
    procs: list[subprocess.Popen] = []
    try:
        pg.start()
        for db in ("prefect_bench", "lake_bench", "commit_bench"):
            pg.create_database(db)
        port = _free_port()
        api = f"http://127.0.0.1:{port}/api"
        procs.append(_popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                            _env(PREFECT_HOME=str(base / "server-home"), PREFECT_UI_ENABLED="false",
                                 PREFECT_API_DATABASE_CONNECTION_URL=f"postgresql+asyncpg://postgres@127.0.0.1:{pg.port}/prefect_bench"),
                            base / "server.log"))
        import httpx

        _wait(lambda: httpx.get(f"{api}/health").status_code == 200 if _up(api) else False, 180, "prefect server")
        n = write_corpus(base / "corpus", eval_dir, args.articles, args.days)
        lake = base / "lake"
        common = dict(PREFECT_API_URL=api, FPWATCH_WAREHOUSE=str(lake), FPWATCH_CATALOG=pg.catalog("lake_bench"),
                      FPWATCH_INGEST_CRON="", FPWATCH_REPROCESS_CRON="", FPWATCH_COMPACT_CRON="",
                      FPWATCH_BACKFILL_CHUNK_DAYS=str(args.chunk_days))
        t0 = time.perf_counter()
        subprocess.run([str(BIN / "fpwatch"), "run", str(base / "corpus")], env=_env(**common,
                       PREFECT_HOME=str(base / "client-home")), cwd=REPO, check=True, capture_output=True)
        print(f"corpus: {n} AllSides articles over {args.days} days, loaded by `fpwatch run` in "
              f"{time.perf_counter() - t0:.0f} s (not timed below); chunks of {args.chunk_days} days")
        store = Warehouse(lake, catalog=pg.catalog("lake_bench"), data_path=str(lake / "lake"))
        dask_port = _free_port()
        results = []
        for setup in [s.strip() for s in args.setups.split(",")]:
            workers = 1 if setup.startswith("1") else 2
            env = dict(common, FPWATCH_BACKFILL_CONCURRENCY=str(workers), FPWATCH_TRANSFORM_WORKERS="1")
            meter = CpuMeter()
            started: list[subprocess.Popen] = []
            if "dask" in setup:
                env["FPWATCH_DASK_ADDRESS"] = f"tcp://127.0.0.1:{dask_port}"
                denv = _env(PREFECT_API_URL=api, PREFECT_HOME=str(base / "dask-home"), OMP_NUM_THREADS="1")
                started.append(_popen([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port",
                                       str(dask_port), "--no-dashboard"], denv, base / "dask-scheduler.log"))
                for i in (1, 2):
                    started.append(_popen([str(BIN / "dask"), "worker", f"tcp://127.0.0.1:{dask_port}", "--nworkers",
                                           "1", "--nthreads", "1", "--no-dashboard"], denv, base / f"dask-{i}.log"))
            deploy_env = _env(**env, PREFECT_HOME=str(base / "client-home"))
            subprocess.run([str(BIN / "fpwatch"), "deploy"], env=deploy_env, cwd=REPO, check=True, capture_output=True)
            for i in range(workers):
                started.append(_popen([str(BIN / "prefect"), "worker", "start", "--pool", "fpwatch", "--limit", "2"],
                                      _env(**env, PREFECT_HOME=str(base / f"worker-{i}-home")),
                                      base / f"worker-{setup}-{i}.log"))
            procs.extend(started)
            meter.roots = [p.pid for p in started]
            meter.start()
            time.sleep(5)  # workers and Dask up (not timed)
            cpu0 = meter.total()
            t0 = time.perf_counter()
            result = run_backfill(api, args.days)
            wall = time.perf_counter() - t0
            cpu = meter.total() - cpu0
            meter.stop()
            for p in started:
                _stop(p)
            state = result["run"]["state"]["type"]
            results.append((setup, state, wall, cpu, n / wall, n / cpu if cpu else 0.0,
                            overhead_share(result["children"], store), len(result["children"])))
        print(f"\n{'setup':<20}{'state':>10}{'wall s':>9}{'CPU s':>9}{'art/s':>8}{'art/s/core':>11}"
              f"{'Prefect share':>14}{'chunks':>7}")
        for setup, state, wall, cpu, rate, per_core, share, chunks in results:
            print(f"{setup:<20}{state:>10}{wall:>9.1f}{cpu:>9.1f}{rate:>8.2f}{per_core:>11.2f}{share:>14.0%}{chunks:>7}")
        print("(art/s/core = articles / CPU-seconds of every process of the setup: workers, flow runs, Dask)")
        for writers in (1, 2):
            rate = commit_rate(pg.catalog("commit_bench"), base / "commits", writers)
            print(f"PostgreSQL catalog: {rate:.1f} small commits/s with {writers} writer(s)")
    finally:
        for p in reversed(procs):
            _stop(p)
        pg.stop()
        pg.remove()
        shutil.rmtree(base, ignore_errors=True)
    return 0


def _up(api: str) -> bool:
    import httpx

    try:
        httpx.get(f"{api}/health", timeout=5)
        return True
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    raise SystemExit(main())
