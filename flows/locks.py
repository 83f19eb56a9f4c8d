"""Per-partition write locks: two flows writing the same day partition never interleave.

The warehouse serialises writers of one *table* (Warehouse.lock); a day is written as several
tables (raw_inputs, mentions, article_topics, article_signatures, articles), so a backfill and a
reprocess of the same day could otherwise interleave table by table. A flow that rewrites a day
holds that day's lock from reading its inputs to writing its last table. The locks are flock(2)
files under `<warehouse>/.locks/`: they work across processes on one host and vanish with a
killed process (no stale lock to clean up).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from flows.warehouse import Warehouse

LOCK_DIR = ".locks"


def partition_lock_path(warehouse: Warehouse, day: dt.date) -> Path:
    """The lock file of one day partition (shared by every partitioned table)."""
    return warehouse.root / LOCK_DIR / f"partition-{day.isoformat()}.lock"


@contextlib.contextmanager
def partition_locks(warehouse: Warehouse, days: Iterable[dt.date], *, timeout_s: float | None = None) -> Iterator[None]:
    """Hold the exclusive locks of `days` (taken in date order, so two holders never deadlock).

    Blocks until every lock is free; with `timeout_s`, raises TimeoutError instead of waiting longer.
    """
    wanted = sorted(set(days))
    (warehouse.root / LOCK_DIR).mkdir(parents=True, exist_ok=True)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    with contextlib.ExitStack() as stack:
        for day in wanted:
            fh = stack.enter_context(open(partition_lock_path(warehouse, day), "a+"))
            _acquire(fh.fileno(), day, deadline)
            stack.callback(fcntl.flock, fh.fileno(), fcntl.LOCK_UN)
        yield


def _acquire(fd: int, day: dt.date, deadline: float | None) -> None:
    if deadline is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"partition {day} is being written by another run") from None
            time.sleep(0.05)


def partition_locked(warehouse: Warehouse, day: dt.date) -> bool:
    """True when another holder has the day's lock right now (for reports and tests)."""
    path = partition_lock_path(warehouse, day)
    if not path.exists():
        return False
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return False
