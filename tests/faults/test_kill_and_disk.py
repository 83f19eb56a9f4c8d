"""Faults against the real CLI and a real DuckLake warehouse: kill -9 mid-run, then run again; a full disk."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.warehouse.store import connect_readonly

FPWATCH = Path(sys.executable).parent / "fpwatch"
N_INPUTS = 24
CHUNK = 4  # 6 chunks of 4 inputs: room to kill between commits


def _write_inputs(folder: Path) -> None:
    folder.mkdir()
    for i in range(N_INPUTS):
        (folder / f"a{i:02d}.txt").write_text(
            f" date 2024-03-{1 + i % 20:02d}\nTalks number {i} in Geneva\n\n"
            + f"Diplomats from Japan and the United States met in Geneva for talks number {i}. " * 20
            + "\n\nThe ministers agreed to meet again next month, officials said."
        )


def _env(**extra: str) -> dict[str, str]:
    return dict(os.environ, FPWATCH_CHUNK_SIZE=str(CHUNK), FPWATCH_BATCH_SIZE=str(CHUNK), **extra)


def _chunks_committed(wh: Path) -> int:
    if not (wh / "catalog.sqlite").exists():
        return 0
    try:
        con = connect_readonly(wh)
        rows = con.sql("select count(*) from ducklake_snapshots('lake') where commit_message like 'run % chunk %'")
        return rows.fetchone()[0]
    except Exception:  # the catalog is being created
        return 0


def _wait_until_gone(wh: Path, timeout: float = 30) -> None:
    """Wait until no process of a run on `wh` is left (the supervised work process, its workers)."""
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for p in psutil.process_iter(["cmdline"]):
            with contextlib.suppress(psutil.Error):
                if str(wh) in " ".join(p.info["cmdline"] or []):
                    alive.append(p)
        if not alive:
            return
        time.sleep(0.1)
    raise AssertionError(f"processes of the killed run still alive: {alive}")


def _orphans(wh: Path) -> tuple[int, ...]:
    con = connect_readonly(wh)
    return con.sql(
        """
        select
            (select count(*) from mentions m anti join articles a using (article_id)),
            (select count(*) from article_topics t anti join articles a using (article_id)),
            (select count(*) from article_signatures s anti join articles a using (article_id)),
            (select count(*) from raw_inputs r anti join articles a using (article_id)),
            (select count(*) from articles a anti join raw_inputs r using (article_id)),
            (select count(*) - count(distinct article_id) from articles)
        """
    ).fetchone()


@pytest.mark.parametrize("kill_after_chunks", [0, 1, 3])
def test_kill_9_mid_run_then_run_again_loses_and_doubles_nothing(tmp_path, kill_after_chunks, prefect_api_env):
    # Both runs use the session's Prefect API, not a temporary server each (the subject is the
    # warehouse; test_cli_faults.py kills a CLI in ephemeral mode and checks its server goes too).
    inputs, wh = tmp_path / "in", tmp_path / "wh"
    _write_inputs(inputs)
    proc = subprocess.Popen([str(FPWATCH), "run", str(inputs), "-w", str(wh)], env=_env(**prefect_api_env),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if kill_after_chunks == 0 and (wh / "catalog.sqlite").exists():
                break  # the run has started writing: its catalog and `running` row exist
            if kill_after_chunks and _chunks_committed(wh) >= kill_after_chunks:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI, its Prefect server and any workers
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    _wait_until_gone(wh)  # the CLI's work process dies of its parent's death: a moment later, not at once
    committed = _chunks_committed(wh)
    assert committed >= kill_after_chunks and committed < N_INPUTS // CHUNK
    if committed:
        assert _orphans(wh) == (0,) * 6  # what was committed is whole

    again = subprocess.run([str(FPWATCH), "run", str(inputs), "-w", str(wh)], env=_env(**prefect_api_env),
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    con = connect_readonly(wh)
    assert con.sql("select count(*), count(distinct article_id) from articles").fetchone() == (N_INPUTS, N_INPUTS)
    assert _orphans(wh) == (0,) * 6
    # the second run skipped what the killed one had committed, and did not redo it
    last = con.sql("select status, articles_written from runs order by started_at desc limit 1").fetchone()
    assert last == ("completed", N_INPUTS - CHUNK * committed)


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir()
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def test_a_full_disk_fails_the_run_with_one_line_and_keeps_the_last_snapshot(tmp_path, prefect_api_env):
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "700k"):
        if os.environ.get("CI"):
            pytest.fail("CI runs as root: the full-disk test must be able to mount a small tmpfs")
        pytest.skip("mounting a tmpfs needs root")
    try:
        wh = disk / "wh"
        seeds = Path(__file__).resolve().parents[2] / "seeds"
        # The first run only fills the lake (session's Prefect API); the failing one runs as a user's
        # does, with its own temporary Prefect server, whose stop must not add to the one line.
        first = subprocess.run([str(FPWATCH), "run", str(seeds), "-w", str(wh)], env=_env(**prefect_api_env),
                               capture_output=True, text=True, timeout=600)
        assert first.returncode == 0, first.stderr[-2000:]
        big = tmp_path / "big"
        big.mkdir()
        for i in range(40):
            (big / f"b{i}.txt").write_text(f"Envoys met in Vienna to discuss the accord, round {i}. " * 400)
        failed = subprocess.run([str(FPWATCH), "run", str(big), "-w", str(wh)], env=_env(),
                                capture_output=True, text=True, timeout=600)
        assert failed.returncode == 1
        errors = [line for line in failed.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and ("full" in errors[0] or "space" in errors[0]), failed.stderr[-2000:]
        assert "Traceback" not in failed.stderr
        assert "details:" in errors[0]
        con = connect_readonly(wh)
        assert con.sql("select count(*) from articles where source like '0%'").fetchone()[0] == 5
        assert _orphans(wh) == (0,) * 6
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
