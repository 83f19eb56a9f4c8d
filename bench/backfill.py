"""Backfill cost: a month of day partitions rebuilt from stored raw inputs, at several concurrencies.

Usage:
    .venv/bin/python bench/backfill.py                        # 300 AllSides articles over 30 days
    .venv/bin/python bench/backfill.py --articles 600 --days 31 --chunk-sizes 200,2000
    FPWATCH_EVAL_DIR=/path/to/eval .venv/bin/python bench/backfill.py

Reads corpus/allsides_foreign_policy.jsonl.gz in place (default ../shared/eval next to the repo, or
FPWATCH_EVAL_DIR, or --eval-dir), writes the articles as dated .txt files into a temporary folder
(never the repo), ingests them once with the `run` flow, then times `backfill` (mode reprocess)
over the whole range for each chunk size (inputs per commit). Prints seconds, articles/s and task runs per backfill.
Without the eval data it says so and exits 0.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from _evaldata import eval_dir as find_eval_dir  # noqa: E402  (bench/ is on sys.path when a bench runs)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

START = dt.date(2024, 1, 1)




def _write_articles(corpus: Path, folder: Path, n: int, days: int) -> int:
    """Write n articles as ` date YYYY-MM-DD` text files, spread evenly over `days` days."""
    written = 0
    with gzip.open(corpus, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            text = (row.get("content_original") or "").strip()
            if len(text) < 800:
                continue
            day = START + dt.timedelta(days=written % days)
            body = f" date {day.isoformat()}\n{row.get('title') or ''}\n\n{text}\n"
            (folder / f"{written:05d}.txt").write_text(body, encoding="utf-8")
            written += 1
            if written >= n:
                break
    return written


def _task_runs(flow_run_id: str) -> int:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        found = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[uuid.UUID(flow_run_id)])))
    return len(found)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir")
    parser.add_argument("--articles", type=int, default=300)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--chunk-sizes", default="200,2000")
    args = parser.parse_args()
    corpus = find_eval_dir(args.eval_dir) / "corpus" / "allsides_foreign_policy.jsonl.gz"
    if not corpus.exists():
        print(f"skipped: no eval corpus at {corpus} (set FPWATCH_EVAL_DIR or --eval-dir)")
        return 0

    from prefect.testing.utilities import prefect_test_harness

    from flows.jobs.backfill import backfill_flow
    from flows.jobs.run import run_flow
    from flows.settings import get_settings

    with tempfile.TemporaryDirectory() as tmp, prefect_test_harness(server_startup_timeout=180):
        inputs = Path(tmp) / "in"
        inputs.mkdir()
        n = _write_articles(corpus, inputs, args.articles, args.days)
        warehouse = str(Path(tmp) / "wh")
        started = time.monotonic()
        summary = run_flow(paths=[str(inputs)], warehouse=warehouse)
        seconds = time.monotonic() - started
        print(f"ingest  {n} articles over {args.days} days: {summary['articles_written']} written, "
              f"{len(summary['partitions'])} partitions, {seconds:.1f} s ({summary['articles_written'] / seconds:.1f}/s)")
        end = START + dt.timedelta(days=args.days - 1)
        print("backfill (mode reprocess, whole range)")
        print(f"{'chunk size':>11} {'seconds':>8} {'articles/s':>10} {'task runs':>9} {'status':>9}")
        for level in [int(c) for c in args.chunk_sizes.split(",")]:
            os.environ["FPWATCH_CHUNK_SIZE"] = str(level)
            get_settings.cache_clear()
            started = time.monotonic()
            result = backfill_flow(start=START, end=end, warehouse=warehouse)
            seconds = time.monotonic() - started
            print(f"{level:>11} {seconds:>8.1f} {result['articles_written'] / seconds:>10.1f} "
                  f"{_task_runs(result['run_id']):>9} {result['status']:>9}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
