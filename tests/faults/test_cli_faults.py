"""Faults a scheduled job meets, through the real CLI: concurrent runs with a reader, a corrupt data file,
an unreachable Prefect API, bad settings, and a CLI killed under its helpers. Each ends as documented."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from flows.warehouse.store import Warehouse, connect_readonly

FPWATCH = Path(sys.executable).parent / "fpwatch"
SEEDS = Path(__file__).resolve().parents[2] / "seeds"


def _inputs(folder: Path, n: int, tag: str = "") -> Path:
    folder.mkdir()
    for i in range(n):
        (folder / f"n{i:02d}.txt").write_text(
            f" date 2024-04-{1 + i % 9:02d}\nEnvoys meet in Oslo, round {i}{tag}\n\n"
            + f"Envoys of Norway and Colombia met in Oslo for round {i} of the talks. " * 15
        )
    return folder


def _run(*args: str, env: dict[str, str] | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(FPWATCH), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "FPWATCH_CHUNK_SIZE": "4", "FPWATCH_BATCH_SIZE": "4", **(env or {})})


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    return errors[0]


def test_two_concurrent_runs_and_a_reader_loop(tmp_path, prefect_api_env):
    """Two runs on one warehouse at once both succeed; a reader meanwhile never sees half a chunk."""
    wh = tmp_path / "wh"
    first, second = _inputs(tmp_path / "a", 12), _inputs(tmp_path / "b", 12, tag=" (second desk)")
    # The catalog exists before the race (this run uses the session's Prefect API; the two racing
    # runs below start a temporary server each, as two overlapping cron jobs do).
    assert _run("run", str(SEEDS), "-w", str(wh), env=prefect_api_env).returncode == 0
    seen, problems, stop = [], [], threading.Event()

    def reader() -> None:
        con = connect_readonly(wh)
        while not stop.is_set():
            row = con.sql(
                """
                select (select count(*) from mentions m anti join articles a using (article_id)),
                       (select count(*) from articles a anti join raw_inputs r using (article_id)),
                       (select count(*) - count(distinct article_id) from articles),
                       (select count(*) from articles)
                """
            ).fetchone()
            seen.append(row[3])
            if row[:3] != (0, 0, 0):
                problems.append(row)
            time.sleep(0.05)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        procs = [subprocess.Popen([str(FPWATCH), "run", str(folder), "-w", str(wh)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True,
                                  env=dict(os.environ, FPWATCH_CHUNK_SIZE="4", FPWATCH_BATCH_SIZE="4"))
                 for folder in (first, second)]
        results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    finally:
        stop.set()
        thread.join(timeout=60)
    for code, err in results:
        assert code == 0, err[-3000:]
    assert not problems, problems[:5]
    assert len(set(seen)) > 2  # the reader saw the totals grow while the runs committed
    con = connect_readonly(wh)
    assert con.sql("select count(*), count(distinct article_id) from articles").fetchone() == (29, 29)
    runs = con.sql("select status, count(*) from runs group by 1").fetchall()
    assert runs == [("completed", 3)]


def test_a_corrupt_data_file_fails_the_run_with_one_line_naming_it(tmp_path, prefect_api_env):
    wh = tmp_path / "wh"
    # Filling the lake uses the session's Prefect API; the failing run below starts its own server.
    assert _run("run", str(_inputs(tmp_path / "a", 20)), "-w", str(wh),
                env={"FPWATCH_CHUNK_SIZE": "100", **prefect_api_env}).returncode == 0
    store = Warehouse(wh)
    files = store.query("select data_file from ducklake_list_files('lake', 'raw_inputs')")["data_file"].to_list()
    store.close()
    assert files, "20 inputs in one chunk are written as a data file (fewer are inlined in the catalog)"
    bad = Path(files[0])
    bad.write_bytes(bad.read_bytes()[:100])
    again = _run("run", str(_inputs(tmp_path / "b", 3, tag=" later")), "-w", str(wh))
    # 1 when the run itself reads the file, 3 when only its data checks do: either way it is named
    assert again.returncode in (1, 3), again.stderr[-3000:]
    line = _one_error_line(again)
    assert bad.name in line, line
    assert "details:" in line


def test_failed_data_checks_exit_3_with_one_line_naming_the_check(tmp_path):
    folder = _inputs(tmp_path / "a", 2)
    for i in range(22):
        (folder / f"empty{i}.txt").write_text("")
    out = _run("run", str(folder), "-w", str(tmp_path / "wh"), env={"FPWATCH_MAX_REJECT_RATE": "0.5"})
    assert out.returncode == 3
    assert "reject_rate" in _one_error_line(out)
    con = connect_readonly(tmp_path / "wh")
    assert con.sql("select count(*) from articles").fetchone()[0] == 2  # what passed is committed
    assert con.sql("select status from runs").fetchall() == [("failed",)]


def test_an_unreachable_prefect_api_is_one_line(tmp_path):
    out = _run("run", str(SEEDS), "-w", str(tmp_path / "wh"), env={"PREFECT_API_URL": "http://127.0.0.1:9/api"},
               timeout=300)
    assert out.returncode == 1
    assert "127.0.0.1:9" in _one_error_line(out)


def test_bad_settings_are_refused_before_anything_starts(tmp_path):
    started = time.monotonic()
    out = _run("run", str(SEEDS), "-w", str(tmp_path / "wh"), env={"FPWATCH_CHUNK_SIZE": "many"})
    assert out.returncode == 2
    line = _one_error_line(out)
    assert "FPWATCH_CHUNK_SIZE" in line and "many" in line
    assert not (tmp_path / "wh").exists()
    assert time.monotonic() - started < 30  # no Prefect server was started


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_killing_the_cli_leaves_no_prefect_server_or_worker_behind(tmp_path, signum):
    proc = subprocess.Popen([str(FPWATCH), "run", str(_inputs(tmp_path / "a", 30)), "-w", str(tmp_path / "wh")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cli = psutil.Process(proc.pid)
    started, tree = time.monotonic(), set()
    while time.monotonic() - started < 120 and proc.poll() is None:
        kids = cli.children(recursive=True)
        tree.update(k.pid for k in kids)
        if len(kids) >= 2:  # the work process and its temporary Prefect server
            break
        time.sleep(0.2)
    time.sleep(2)
    tree.update(k.pid for k in cli.children(recursive=True))
    assert proc.poll() is None and len(tree) >= 2
    os.kill(proc.pid, signum)
    proc.wait(timeout=60)
    deadline = time.monotonic() + 60
    alive = tree
    while time.monotonic() < deadline:
        alive = [p for p in tree if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        if not alive:
            break
        time.sleep(0.5)
    assert not alive, [psutil.Process(p).cmdline() for p in alive if psutil.pid_exists(p)]
