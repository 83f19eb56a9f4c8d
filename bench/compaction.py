"""A month of hourly runs in a DuckLake warehouse: data files, size and snapshots before and after compaction.

Simulates the commits 720 hourly ingest runs make (one chunk each: articles, raw inputs, mentions,
topics, signatures and the `runs` row, as flows/pipeline/process.py commits them) with rows copied from a
real warehouse (fresh ids, one partition per day), then runs `fpwatch compact` (flows/warehouse/maintenance.py)
with the default retention (30 days) and again with 7 days. The transforms are not re-run: this
measures the storage engine, not the pipeline.

Usage: .venv/bin/python bench/compaction.py --template WAREHOUSE [--hours 720] [--per-run 20]

WAREHOUSE is any fpwatch warehouse with real articles (e.g. one `fpwatch run` over a few hundred
AllSides articles from ../shared/eval, or the seeds for a quick look).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flows.warehouse.maintenance import compact_warehouse, lake_stats  # noqa: E402
from flows.warehouse.store import Warehouse, replace_rows  # noqa: E402

PER_ARTICLE = ("articles", "raw_inputs", "mentions", "events", "article_topics", "article_signatures",
               "sentence_country_pairs")
START = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)


def _du(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", required=True, help="a warehouse whose articles are copied")
    parser.add_argument("--hours", type=int, default=720)
    parser.add_argument("--per-run", type=int, default=20, help="articles per hourly run")
    args = parser.parse_args()

    template = Warehouse(args.template)
    rows = {t: template.query(f'select * from "{t}"') for t in PER_ARTICLE}
    ids = rows["articles"]["article_id"].to_list()
    if not ids:
        print(f"no articles in {args.template}")
        return 1
    by_id = {t: frame.partition_by("article_id", as_dict=True) for t, frame in rows.items()}
    tmp = Path(tempfile.mkdtemp(prefix="fpwatch-compaction-"))
    try:
        wh = Warehouse(tmp / "wh")
        wh.ensure_catalog()
        started = time.monotonic()
        for hour in range(args.hours):
            when = START + dt.timedelta(hours=hour)
            picked = [ids[(hour * args.per_run + k) % len(ids)] for k in range(args.per_run)]
            run_id = f"sim-{hour:04d}"
            frames = {}
            for table in PER_ARTICLE:
                parts = [by_id[table][(a,)].with_columns(article_id=pl.lit(f"{a}-{hour}")) for a in picked
                         if (a,) in by_id[table]]
                frames[table] = pl.concat(parts).with_columns(
                    partition_date=pl.lit(when.date()), run_id=pl.lit(run_id)
                ) if parts else rows[table].clear()
            run_row = pl.DataFrame([{"run_id": run_id, "flow": "ingest", "started_at": when, "finished_at": when,
                                     "status": "completed", "articles_written": args.per_run,
                                     "partitions": [when.date()]}])
            new_ids = [f"{a}-{hour}" for a in picked]

            def work(cur, frames=frames, new_ids=new_ids, run_row=run_row, run_id=run_id):
                for table, frame in frames.items():
                    replace_rows(cur, table, frame, key="article_id", keys=new_ids, days=[when.date()])
                replace_rows(cur, "runs", run_row, key="run_id", keys=[run_id])

            wh.commit(work, what=f"run {run_id} chunk 1", tag={"run_id": run_id, "chunk": 1})
        seconds = time.monotonic() - started
        before = lake_stats(wh) | {"disk_mb": round(_du(tmp / "wh"), 1)}
        month = compact_warehouse(wh, keep_days=30)
        after30 = lake_stats(wh) | {"disk_mb": round(_du(tmp / "wh"), 1)}
        # the snapshots of the simulated month are dated today: a 0-day retention shows the floor
        week = compact_warehouse(wh, keep_days=0)
        after0 = lake_stats(wh) | {"disk_mb": round(_du(tmp / "wh"), 1)}
        n = wh.query("select count(*) as n from articles")["n"][0]
        print(f"{args.hours} hourly runs x {args.per_run} articles = {n} articles, committed in {seconds:.0f} s "
              f"({seconds / args.hours * 1000:.0f} ms a commit)")
        print(f"{'':34} {'data files':>10} {'data MB':>8} {'disk MB':>8} {'snapshots':>9}")
        for label, s in [("before compaction", before), ("compact, keep 30 days", after30),
                         ("compact, keep 0 days", after0)]:
            print(f"{label:34} {s['data_files']:>10} {s['data_mb']:>8} {s['disk_mb']:>8} {s['snapshots']:>9}")
        print(f"compaction: {month['seconds']} s (30 days), {week['seconds']} s (0 days)")
        print(json.dumps({"before": before, "keep30": after30, "keep0": after0}))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
