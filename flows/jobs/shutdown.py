"""`fpwatch serve` stopped (SIGTERM, SIGINT): its flow runs in flight end at once, marked Crashed.

Prefect's Runner means to cancel its runs on SIGTERM, but in Prefect 3.8.8 its handler calls the
sync `stop()` from inside the event loop, which only creates the `astop` coroutine, never awaited,
and exits: the flow-run process is gone, the run stays Running and holds its deployment's
concurrency slot until the zombie automation crashes it 75-90 s later (measured: a backfill whose
`serve` got SIGTERM was Running 60 s later, the next one Scheduled behind it; after Ctrl-C, SIGINT
to the process group, the same). Relying on the flow-run process to report its own end is not
enough either: Prefect raises its SIGTERM exception from a signal handler, and when that lands in a
weakref callback Python prints "Exception ignored" and the run goes on (3 of 10 SIGTERMs in our measurements; sent again, it lands).

So `CrashingRunner` (Prefect's Runner with its SIGTERM handler replaced, for SIGINT too) ends the
flow-run processes it started (SIGTERM, then SIGKILL of the whole process tree after
STOP_GRACE_SECONDS), marks each run Crashed with the reason (which frees its concurrency slot), and
then stops the way Prefect's `astop` does. Runs are found as this process's children carrying
PREFECT__FLOW_RUN_ID, the variable Prefect's runner sets for every flow run it starts.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
from typing import Any

from prefect.logging import get_logger
from prefect.runner import Runner

FLOW_RUN_ENV = "PREFECT__FLOW_RUN_ID"
#: Seconds a flow run gets to stop on SIGTERM (roll back its open commit, write its `runs` row)
#: before its process tree is killed: under `docker stop`'s 10 s, so the runs are marked before
#: the container is killed.
STOP_GRACE_SECONDS = 8.0
#: A SIGTERM that Python swallowed (see above) is sent again this often until the grace is over.
TERM_AGAIN_SECONDS = 2.0

log = get_logger("fpwatch.shutdown")


def flow_run_processes(pid: int | None = None) -> dict[str, Any]:
    """Child processes of `pid` (default: this one) that execute a flow run, by flow run id."""
    import psutil

    found = {}
    for child in psutil.Process(pid or os.getpid()).children():
        try:
            run_id = child.environ().get(FLOW_RUN_ENV)
        except psutil.Error:  # gone meanwhile, or not ours to read
            continue
        if run_id:
            found[run_id] = child
    return found


def end_processes(processes: list[Any], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM each process (again every TERM_AGAIN_SECONDS: one can be lost, see above), SIGKILL after `grace` s.

    Whatever the processes started (transform workers) is killed at the end, even when they ended.
    """
    import time

    import psutil

    family = set(processes)
    deadline = time.monotonic() + grace
    alive = list(processes)
    while alive:
        for proc in alive:
            try:
                family.update(proc.children(recursive=True))
                proc.terminate()
            except psutil.Error:
                pass
        left = deadline - time.monotonic()
        if left <= 0:
            break
        _, alive = psutil.wait_procs(alive, timeout=min(TERM_AGAIN_SECONDS, left))
    for proc in family:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(list(family), timeout=5)


def unfinished(flow_run_ids: list[str]) -> list[str]:
    """The flow runs of `flow_run_ids` whose state is not final (yet)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        states = {run_id: client.read_flow_run(run_id).state for run_id in flow_run_ids}
    return [run_id for run_id, state in states.items() if state is None or not state.is_final()]


def mark_crashed(flow_run_ids: list[str], message: str) -> dict[str, str]:
    """Set each flow run to Crashed with `message` unless it Completed; returns id -> final state type.

    Forced: whatever the run's own process reported when it was stopped (Crashed "aborted by a
    termination signal", Failed "Query interrupted" from DuckDB) gets the reason instead.
    """
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    ended = {}
    with get_client(sync_client=True) as client:
        for run_id in flow_run_ids:
            state = client.read_flow_run(run_id).state
            if state is not None and state.is_completed():  # it finished just before the signal
                ended[run_id] = state.type.value
                continue
            client.set_flow_run_state(run_id, Crashed(message=message), force=True)
            ended[run_id] = "CRASHED"
    return ended


def stop_flow_runs(signame: str, who: str = "fpwatch serve", grace: float = STOP_GRACE_SECONDS) -> dict[str, str]:
    """End this process's flow runs and mark them Crashed, saying why; returns id -> final state type."""
    processes = flow_run_processes()
    if not processes:
        return {}
    log.warning("%s: ending %d flow run(s) in flight and marking them Crashed", signame, len(processes))
    try:
        in_flight = unfinished(list(processes))
    except Exception as exc:  # the API is down: end the processes all the same
        log.warning("could not read the flow runs' states (%s): marking them all", exc)
        in_flight = list(processes)
    end_processes(list(processes.values()), grace)
    message = (f"{who} on {socket.gethostname()} was stopped ({signame}) while this run was in flight; "
               "committed chunks are kept: run it again to finish")
    ended = mark_crashed(in_flight, message)
    for run_id, state in ended.items():
        log.warning("flow run %s: %s", run_id, state.lower())
    return ended


class CrashingRunner(Runner):
    """Prefect's Runner whose SIGTERM and SIGINT end its flow runs at once, marked Crashed, then stop it."""

    _stop_task: asyncio.Task | None = None
    _signal_loop: asyncio.AbstractEventLoop | None = None

    async def start(self, run_once: bool = False, webserver: bool | None = None) -> None:
        self._signal_loop = asyncio.get_running_loop()
        if threading.current_thread() is threading.main_thread():
            # asyncio.run's SIGINT handler would cancel the loop under the runs; Runner.start points
            # SIGTERM at handle_sigterm itself.
            signal.signal(signal.SIGINT, self.handle_sigterm)
        await super().start(run_once=run_once, webserver=webserver)

    def handle_sigterm(self, signum: int = signal.SIGTERM, *_: Any) -> None:
        """The signal handler: start the stop in the event loop (a signal handler must not block it)."""
        if self._signal_loop is not None:
            self._signal_loop.call_soon_threadsafe(self._on_signal, signum)

    def _on_signal(self, signum: int) -> None:
        if self._stop_task is not None:
            self._logger.info("already stopping: its flow runs get %.0f s to end", STOP_GRACE_SECONDS)
            return
        self._stop_task = asyncio.get_running_loop().create_task(self._stop(signal.Signals(signum).name))

    async def _stop(self, signame: str) -> None:
        self._logger.info("%s received: ending the flow runs in flight, then stopping", signame)
        poller = getattr(self, "_scheduled_run_poller", None)
        if poller is not None:
            poller.stopping = True  # no new run starts meanwhile (Runner.astop does the same)
        try:
            await asyncio.to_thread(stop_flow_runs, signame)
        except Exception as exc:  # still stop: the zombie automation crashes what is left
            self._logger.error("could not mark the flow runs in flight Crashed: %s", exc)
        if self.started:
            await self.astop()
