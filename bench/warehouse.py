"""The warehouse at scale: the OLD Parquet layout next to the NEW DuckLake catalog, on N articles.

Build (timed):
1. the real pipeline (`flows.jobs.run.run_flow`, under a Prefect test harness) on 2,000 AllSides articles
   (../shared/eval/corpus/allsides_foreign_policy.jsonl.gz, written as .txt files with a
   ` date YYYY-MM-DD` first line, then the title and the text) into a fresh DuckLake warehouse;
2. those rows copied in SQL, with fresh ids (`<article_id>-<copy>`, `<story_id>-<copy>`), content
   hashes and LSH band keys, over three years of partition dates (ending at the corpus' last date;
   a story's articles keep their distances in days) up to N articles, for every per-article table
   (articles, raw_inputs, mentions, events, article_topics, article_signatures, sentence_country_pairs) and stories, committed in a
   few large transactions, then `fpwatch compact` (flows.warehouse.maintenance.compact_warehouse);
3. the same rows written in the OLD layout: lake/<table>/partition_date=D/data.parquet (one file
   per table and day, zstd) and warehouse.duckdb with `read_parquet(..., union_by_name)` views and
   the sql/views/ analyst views on top.

Measured:
- p50 of 5 runs (after a warm-up) of six analyst queries through the analyst path (NEW:
  flows.warehouse.lake.connect_analyst; OLD: warehouse.duckdb opened read-only);
- `fpwatch run` of 100 fresh AllSides articles (not among the 2,000) into the big lake and into an
  empty one (wall seconds of the run_flow call in a fresh process with the Prefect API already up;
  peak RSS of that process tree, sampled with psutil), and the same 100 again (nothing new);
- disk size and data file counts of both layouts.

Usage: .venv/bin/python bench/warehouse.py [--articles 1000000] [--keep DIR] [--reuse] [--eval-dir DIR]
       --keep DIR keeps the warehouses in DIR; --reuse takes the build already in DIR (same N) and
       only measures (each reuse ingests the next two sets of 100 fresh articles); --no-spread skips
       the run whose articles are dated years apart. Skips cleanly without the evaluation data.
       1M articles: ~14 GB on disk for both layouts together (peak ~20 GB), ~20 minutes to build.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gzip
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from _evaldata import eval_dir as find_eval_dir  # noqa: E402

CORPUS = Path("corpus") / "allsides_foreign_policy.jsonl.gz"
#: Per-article tables (partitioned by partition_date), copied with fresh ids.
ARTICLE_TABLES = ("articles", "raw_inputs", "mentions", "events", "article_topics", "article_signatures",
                  "sentence_country_pairs")
#: What the old layout did not store (tables, columns): its disk figure leaves them out.
NOT_IN_OLD_LAYOUT = ("sentence_country_pairs", "story_terms", "story_weights")
#: The old layout had no stored pairs: its country_pairs view self-joined the country mentions.
OLD_COUNTRY_PAIRS = """
create or replace view country_pairs as
-- not materialized: the view is used twice below, and a materialized CTE would be computed over every
-- mention before an analyst's filter on partition_date could prune it (19 s for one month at 1M articles).
with country_mentions as not materialized (
    select distinct
        m.article_id,
        m.partition_date,
        m.sentence_index,
        e.country_code,
        e.canonical_name
    from mentions as m
    join entities as e using (entity_id)
    where e.kind = 'country' and e.country_code is not null
),

pairs as (
    select
        a.article_id,
        a.partition_date,
        a.sentence_index,
        a.country_code as country_a,
        a.canonical_name as country_a_name,
        b.country_code as country_b,
        b.canonical_name as country_b_name
    from country_mentions as a
    join country_mentions as b
        on a.article_id = b.article_id
        and a.partition_date = b.partition_date
        and a.sentence_index = b.sentence_index
        and a.country_code < b.country_code
),

final as (
    select
        p.article_id,
        coalesce(art.published_date, p.partition_date) as article_date,
        p.partition_date,
        p.sentence_index,
        p.country_a,
        p.country_a_name,
        p.country_b,
        p.country_b_name
    from pairs as p
    join articles as art on art.article_id = p.article_id and art.partition_date = p.partition_date
)

select * from final;
"""
#: Days the copies are spread over ("three years of partition dates").
WINDOW_DAYS = 3 * 365 + 1
#: Partitions per COPY statement writing the old layout: one flush per partition, so one file per
#: day with few row groups, and a bounded buffer (~64 days of article bodies).
OLD_DAYS_PER_COPY = 96
RUNS, WARMUP = 5, 1
#: Build steps, in order; each is saved to meta.json when it finishes.
STEPS = ("base_run", "replicate", "compact", "old")
FRESH = 100
#: A 100-article run is stopped past these (story clustering reads every article of the days
#: around each new one: AllSides dates spread over years make that most of a big lake).
RUN_TIMEOUT_S = 900
RUN_MAX_RSS = 12 * 2**30

TARGET_QUERY_MS = 200
TARGET_RUN_FACTOR = 2.0
TARGET_NOOP_S = 5.0


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ------------------------------------------------------------------------------ inputs
def load_records(eval_dir: Path) -> list[dict]:
    with gzip.open(eval_dir / CORPUS, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def write_inputs(records: list[tuple[int, dict]], folder: Path, dates: list[str] | None = None) -> None:
    """One .txt per record: ` date YYYY-MM-DD` (when dated), the title, a blank line, the text.

    dates: one date per record instead of its own (a run of the latest news)."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, (index, rec) in enumerate(records):
        date = dates[k] if dates else (rec.get("date_iso") or rec.get("date") or "")[:10]
        head = f" date {date}\n" if date else ""
        text = f"{head}{rec.get('title') or ''}\n\n{rec.get('content_original') or ''}\n"
        (folder / f"allsides-{index:05d}.txt").write_text(text, encoding="utf-8")


def fresh_records(records: list[dict], base: int, cycle: int) -> list[tuple[int, dict]]:
    """The `cycle`-th set of 100 records after the base ones whose text and URL are not in the base
    (sets 2c and 2c+1 are the two runs of reuse cycle c)."""
    seen = {r.get("content_original") for r in records[:base]} | {r.get("url") for r in records[:base]}
    pool = [(i, r) for i, r in enumerate(records[base:], start=base)
            if r.get("content_original") and r.get("content_original") not in seen and r.get("url") not in seen]
    out = pool[cycle * FRESH:(cycle + 1) * FRESH]
    if len(out) < FRESH:
        raise SystemExit(f"not enough fresh records for cycle {cycle}: rebuild without --reuse")
    return out


# ------------------------------------------------------------------------------ helpers
def du(paths: list[Path]) -> int:
    total = 0
    for p in paths:
        if p.is_file():
            total += p.stat().st_size
        elif p.is_dir():
            total += sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return total


def count_files(folder: Path, pattern: str = "*.parquet") -> int:
    return sum(1 for _ in folder.rglob(pattern)) if folder.is_dir() else 0


def lit(value) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def tune(con, work: Path) -> None:
    con.execute("set memory_limit = '8GB'")
    con.execute(f"set temp_directory = {lit(work / 'duckdb_tmp')}")
    con.execute("set preserve_insertion_order = false")


# ------------------------------------------------------------------------------ build: NEW
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    return prefect_test_harness(server_startup_timeout=180)


def base_run(inputs: Path, root: Path) -> dict:
    from flows.jobs.run import run_flow

    started = time.perf_counter()
    summary = run_flow(paths=[str(inputs)], warehouse=str(root))
    return {"seconds": round(time.perf_counter() - started, 1), "written": summary["articles_written"],
            "rejects": summary["rejects"]}


def replicate(root: Path, n_articles: int, work: Path) -> dict:
    """Copy the base rows with fresh ids over three years up to n_articles: one commit per table.

    The copies are written in day order, so each commit writes one file per partition (rows of a
    day arrive together): the disk holds the data once, not once per commit until compaction.
    """
    from flows.warehouse.lake import connect, resolve_location

    con = connect(resolve_location(root))
    tune(con, work)
    con.execute("set preserve_insertion_order = true")  # day order reaches the partitioned writer
    con.execute("set partitioned_write_max_open_files = 8192")  # one open file per partition
    try:
        for table in ARTICLE_TABLES + ("stories",):
            con.execute(f"create temp table b_{table} as select * from lake.{table}")
        base = con.execute("select count(*) from b_articles").fetchone()[0]
        hi = con.execute("select max(partition_date) from b_articles where published_date is not null").fetchone()[0]
        lo = hi - dt.timedelta(days=WINDOW_DAYS - 1)
        # A story's articles keep their distance in days (rel); each copy of a story lands on a
        # pseudo-random day of the window (hash of the story key and the copy number).
        con.execute(
            """
            create temp table bmap as
            select article_id, row_number() over (order by article_id) - 1 as rn,
                   coalesce(story_id, article_id) as story_key,
                   partition_date - min(partition_date) over (partition by coalesce(story_id, article_id)) as rel
            from b_articles
            """
        )
        copies = math.ceil(n_articles / base)
        con.execute(
            f"""
            create temp table cmap as
            select m.article_id, r.i, m.article_id || '-' || r.i as new_id, m.story_key,
                   date {lit(lo)} + cast((cast(hash(m.story_key || '#' || r.i) % {WINDOW_DAYS} as bigint) + m.rel)
                                         % {WINDOW_DAYS} as integer) as new_day
            from bmap as m cross join range(1, {copies}) as r(i)
            where r.i * {base} + m.rn < {n_articles}
            order by new_day
            """
        )
        same = "c.new_id as article_id, c.new_day as partition_date"
        # Copies must not be byte-identical: Parquet dictionary-encodes equal strings, so a monthly
        # file holding ~14 copies of each body would be ~10x smaller than real articles make it. A
        # last line naming the copy (mention offsets stay valid) and its own minhash avoid that.
        mark = "(chr(10) || chr(10) || '[copy ' || c.i || ']')"
        inserts = {
            "articles": f"""
                select b.* replace (
                    {same}, b.source || '#' || c.i as source,
                    case when b.url is null then null else b.url || '#' || c.i end as url,
                    b.body || {mark} as body, b.body_chars + length({mark}) as body_chars,
                    case when b.published_date is null then null else c.new_day end as published_date,
                    b.content_hash || '-' || c.i as content_hash,
                    case when b.duplicate_of is null then null else b.duplicate_of || '-' || c.i end as duplicate_of,
                    case when b.story_id is null then null else b.story_id || '-' || c.i end as story_id)
                from cmap as c join b_articles as b using (article_id)""",
            "raw_inputs": f"""
                select b.* replace ({same}, b.source || '#' || c.i as source,
                    case when b.url is null then null else b.url || '#' || c.i end as url,
                    b.content || {mark} as content)
                from cmap as c join b_raw_inputs as b using (article_id)""",
            "mentions": f"select b.* replace ({same}) from cmap as c join b_mentions as b using (article_id)",
            "events": f"select b.* replace ({same}, b.event_id || '-' || c.i as event_id) "
                      "from cmap as c join b_events as b using (article_id)",
            "sentence_country_pairs": f"select b.* replace ({same}, c.new_day as article_date) "
                                      "from cmap as c join b_sentence_country_pairs as b using (article_id)",
            "article_topics": f"select b.* replace ({same}) from cmap as c join b_article_topics as b using (article_id)",
            "article_signatures": f"""
                select b.* replace ({same}, b.content_hash || '-' || c.i as content_hash,
                    list_transform(b.band_keys, x -> hash(x, c.i)) as band_keys,
                    list_transform(b.minhash, x -> xor(x, cast(c.i as uinteger))) as minhash,
                    strftime(c.new_day, '%Y-%m-%d') || '|' || c.new_id as sort_key)
                from cmap as c join b_article_signatures as b using (article_id)""",
            "stories": """
                with shift as (
                    select c.story_key, c.i, min(c.new_day - cast(m.rel as integer)) - min(a.partition_date) as days
                    from cmap as c join bmap as m using (article_id) join b_articles as a using (article_id)
                    group by all
                )
                select s.* replace (s.story_id || '-' || h.i as story_id,
                    s.first_published + cast(h.days as integer) as first_published,
                    s.last_published + cast(h.days as integer) as last_published)
                from b_stories as s join shift as h on h.story_key = s.story_id""",
        }
        timings = {}
        for table, select in inserts.items():
            per_article = con.execute(f"select count(*) from b_{table}").fetchone()[0] / base
            # Flush the buffered rows about every 30 days of data (bounded memory, full row groups).
            con.execute(f"set partitioned_write_flush_threshold = {max(100_000, int(30 * per_article * n_articles / WINDOW_DAYS))}")
            t0 = time.perf_counter()
            con.execute("begin transaction")
            con.execute(f"insert into lake.{table} by name {select}")
            con.execute("commit")
            timings[table] = round(time.perf_counter() - t0, 1)
            log(f"  {table}: committed in {timings[table]:.0f} s")
        total = con.execute("select count(*) from lake.articles").fetchone()[0]
        return {"base": base, "copies": copies, "commits": len(timings), "seconds": round(sum(timings.values()), 1),
                "per_table_s": timings, "lo": lo.isoformat(), "hi": hi.isoformat(), "articles": total}
    finally:
        con.close()


def compact(root: Path) -> dict:
    """`fpwatch compact` as the nightly job runs it, then (bench only) the build's snapshots expired and
    their replaced files deleted, so that the disk figures are the steady state."""
    from flows.warehouse.lake import LAKE
    from flows.warehouse.maintenance import compact_warehouse
    from flows.settings import get_settings
    from flows.warehouse.store import Warehouse

    store = Warehouse(root)
    t0 = time.perf_counter()
    result = compact_warehouse(store, get_settings().snapshot_retention_days)
    seconds = time.perf_counter() - t0
    now = dt.datetime.now(dt.timezone.utc)
    store.commit(lambda cur: cur.execute(f"call ducklake_expire_snapshots('{LAKE}', older_than => $t)",
                                         {"t": now}).fetchall(), what="bench: expire build snapshots", token=False)
    store.commit(lambda cur: cur.execute(f"call ducklake_cleanup_old_files('{LAKE}', cleanup_all => true)").fetchall(),
                 what="bench: delete replaced files", token=False)
    store.close()
    result["seconds"] = round(seconds, 1)
    return result


# ------------------------------------------------------------------------------ build: OLD
def build_old(new_root: Path, old_root: Path, work: Path) -> dict:
    """The old layout from the new lake's rows: one zstd Parquet file per table and day, plus views."""
    import duckdb

    from flows.warehouse.lake import connect, resolve_location
    from flows.warehouse.store import PARTITION_COLUMN, load_contract

    t0 = time.perf_counter()
    lake = old_root / "lake"
    if old_root.exists():
        shutil.rmtree(old_root)
    lake.mkdir(parents=True)
    con = connect(resolve_location(new_root), read_only=True)
    tune(con, work)
    con.execute(f"set partitioned_write_max_open_files = {OLD_DAYS_PER_COPY + 1}")
    con.execute("set partitioned_write_flush_threshold = 20000000")  # a day's rows in one go, as the old writer
    try:
        for table in load_contract().values():
            if table.name in NOT_IN_OLD_LAYOUT:
                continue
            folder = lake / table.name
            cols = ", ".join(f'"{c}"' for c in table.schema if c not in NOT_IN_OLD_LAYOUT)
            n = con.execute(f"select count(*) from lake.{table.name}").fetchone()[0]
            if table.partitioned and n:
                days = [d for (d,) in con.execute(
                    f"select distinct {PARTITION_COLUMN} from lake.{table.name} order by 1").fetchall()]
                for k in range(0, len(days), OLD_DAYS_PER_COPY):
                    group = days[k:k + OLD_DAYS_PER_COPY]
                    con.execute(
                        f"copy (select {cols} from lake.{table.name} where {PARTITION_COLUMN} between "
                        f"{lit(group[0])} and {lit(group[-1])}) to {lit(folder)} (format parquet, "
                        f"partition_by ({PARTITION_COLUMN}), write_partition_columns true, filename_pattern 'data', "
                        f"overwrite_or_ignore true, compression zstd)"
                    )
                for f in folder.rglob("data0.parquet"):
                    f.rename(f.with_name("data.parquet"))
            else:
                folder.mkdir(parents=True, exist_ok=True)
                con.execute(f"copy (select {cols} from lake.{table.name}) to {lit(folder / 'data.parquet')} "
                            "(format parquet, compression zstd)")
    finally:
        con.close()
    old_views(old_root)
    multi = [p for p in lake.rglob("partition_date=*") if sum(1 for _ in p.glob("*.parquet")) != 1]
    if multi:
        raise RuntimeError(f"old layout: {len(multi)} partitions without exactly one file, e.g. {multi[0]}")
    return {"seconds": round(time.perf_counter() - t0, 1)}


def _duck_type(dtype) -> str:
    """DuckDB type name of a Polars dtype of the contract (for empty views of missing tables)."""
    import polars as pl

    names = {pl.String: "varchar", pl.Int32: "integer", pl.Int64: "bigint", pl.Float64: "double",
             pl.Float32: "float", pl.Boolean: "boolean", pl.Date: "date"}
    for k, v in names.items():
        if dtype == k:
            return v
    return "varchar"


def old_views(old_root: Path) -> None:
    """warehouse.duckdb as the old Warehouse._create_views made it, with the sql/views/ of the tree now."""
    import duckdb

    from flows.warehouse.store import load_contract

    lake = old_root / "lake"
    db = duckdb.connect(str(old_root / "warehouse.duckdb"))
    try:
        for table in load_contract().values():
            if table.name in NOT_IN_OLD_LAYOUT:
                continue
            if not (lake / table.name).exists():  # a table newer than this old layout (--reuse): empty
                cols = ", ".join(f'null::{_duck_type(t)} as "{c}"' for c, t in table.schema.items())
                db.execute(f'create or replace view "{table.name}" as select {cols} where false')
                continue
            pattern = str(lake / table.name / "**" / "*.parquet")
            db.execute(f'create or replace view "{table.name}" as select * from read_parquet('
                       f"{lit(pattern)}, union_by_name = true, hive_partitioning = false)")
            db.execute(f'comment on view "{table.name}" is {lit(table.comment)}')
        pending = {p.stem: p.read_text() for p in sorted((REPO / "sql" / "views").glob("*.sql"))}
        pending["country_pairs"] = OLD_COUNTRY_PAIRS
        while pending:
            progressed = False
            for name, text in list(pending.items()):
                try:
                    db.execute(text)
                except duckdb.CatalogException:
                    continue
                del pending[name]
                progressed = True
            if not progressed:
                raise RuntimeError(f"cannot create views {sorted(pending)}")
    finally:
        db.close()


# ------------------------------------------------------------------------------ queries
def query_params(new_root: Path, meta: dict) -> dict:
    """A frequent entity and topic, and the year, month and week the queries read."""
    from flows.warehouse.lake import connect_analyst, resolve_location

    con = connect_analyst(resolve_location(new_root))
    try:
        entity, name = con.execute(
            "select m.entity_id, any_value(e.canonical_name) from mentions as m left join entities as e using (entity_id) "
            f"where m.article_id not like '%-%' group by 1 order by count(*) desc limit 1").fetchone()
        topic = con.execute("select topic from article_topics where article_id not like '%-%' and score >= 0.5 "
                            "group by 1 order by count(*) desc limit 1").fetchone()[0]
    finally:
        con.close()
    lo, hi = dt.date.fromisoformat(meta["lo"]), dt.date.fromisoformat(meta["hi"])
    month = (hi - dt.timedelta(days=180)).replace(day=1)
    month_end = (month + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    week = hi - dt.timedelta(days=90)
    week -= dt.timedelta(days=week.weekday())
    return {"entity": entity, "entity_name": name, "topic": topic, "lo": lo, "hi": hi,
            "y0": hi - dt.timedelta(days=364), "y1": hi, "m0": month, "m1": month_end,
            "w0": week, "w1": week + dt.timedelta(days=6)}


def analyst_queries(p: dict) -> list[tuple[str, str, bool]]:
    """(name, SQL, held to the 200 ms target). Literal values, as an analyst types them."""
    return [
        ("Q1 mentions of one entity per day, 1 year",
         f"select partition_date as day, count(*) as mentions from mentions where entity_id = {lit(p['entity'])} "
         f"and partition_date between {lit(p['y0'])} and {lit(p['y1'])} group by day order by day", True),
        ("Q2 one topic's weekly articles, 3 years",
         f"select date_trunc('week', partition_date) as week, count(distinct article_id) as articles "
         f"from article_topics where topic = {lit(p['topic'])} and score >= 0.5 "
         f"and partition_date between {lit(p['lo'])} and {lit(p['hi'])} group by week order by week", True),
        ("Q3 top 20 country pairs of 1 month",
         f"select country_a_name, country_b_name, count(distinct article_id) as articles from country_pairs "
         f"where partition_date between {lit(p['m0'])} and {lit(p['m1'])} group by all order by articles desc limit 20",
         True),
        ("Q4 top 10 stories of 1 week",
         f"select s.story_id, s.title, count(*) as articles from articles as a join stories as s using (story_id) "
         f"where a.partition_date between {lit(p['w0'])} and {lit(p['w1'])} group by all order by articles desc limit 10",
         True),
        ("Q5 body ilike '%sanctions%', 1 month",
         f"select count(*) from articles where partition_date between {lit(p['m0'])} and {lit(p['m1'])} "
         "and body ilike '%sanctions%'", False),
        ("Q6 count(*) of articles", "select count(*) from articles", True),
    ]


def time_queries(connect, queries) -> tuple[float, list[tuple[float, object]]]:
    """Connect time (ms) and, per query, (p50 ms of RUNS after WARMUP, first row of the answer)."""
    t0 = time.perf_counter()
    con = connect()
    connect_ms = (time.perf_counter() - t0) * 1000
    out = []
    try:
        for _, sql, _ in queries:
            times, answer = [], None
            for k in range(WARMUP + RUNS):
                t0 = time.perf_counter()
                rows = con.execute(sql).fetchall()
                if k >= WARMUP:
                    times.append((time.perf_counter() - t0) * 1000)
                answer = (len(rows), rows[0] if rows else None)
            out.append((statistics.median(times), answer))
    finally:
        con.close()
    return connect_ms, out


# ------------------------------------------------------------------------------ 100-article runs
def child_run(warehouse: str, inputs: str) -> int:
    """In a fresh process (the bench's Prefect API already up): one `fpwatch run`, timed."""
    from flows.jobs.run import run_flow
    from transforms import PIPELINE_VERSION

    t0 = time.perf_counter()
    summary = run_flow(paths=[inputs], warehouse=warehouse)
    seconds = time.perf_counter() - t0
    print("RESULT " + json.dumps({"seconds": seconds, "written": summary["articles_written"],
                                  "skipped": summary.get("skipped"), "partitions": len(summary["partitions"]),
                                  "pipeline_version": PIPELINE_VERSION}), flush=True)
    return 0


def timed_run(warehouse: Path, inputs: Path, log_file: Path) -> dict:
    """Run a child `fpwatch run` and sample the RSS of its process tree every 0.1 s.

    A run past RUN_TIMEOUT_S or RUN_MAX_RSS is stopped (its tree killed) and reported as such."""
    import psutil
    from prefect.settings import PREFECT_API_URL

    env = dict(os.environ, PREFECT_API_URL=str(PREFECT_API_URL.value()))
    with open(log_file, "w") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child-run", str(warehouse), str(inputs)],
                                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        peak, stop, stopped = 0, threading.Event(), None

        def sample() -> None:
            nonlocal peak, stopped
            try:
                root = psutil.Process(proc.pid)
            except psutil.Error:
                return
            while not stop.is_set():
                try:
                    procs = [root] + root.children(recursive=True)
                    peak = max(peak, sum(p.memory_info().rss for p in procs if p.is_running()))
                    over = (f"RSS over {RUN_MAX_RSS / 2**30:.0f} GiB" if peak > RUN_MAX_RSS else
                            f"over {RUN_TIMEOUT_S} s" if time.perf_counter() - t0 > RUN_TIMEOUT_S else None)
                    if over and stopped is None:
                        stopped = f"stopped: {over} after {time.perf_counter() - t0:.0f} s"
                        for p in reversed(procs):
                            with contextlib.suppress(psutil.Error):
                                p.kill()
                except psutil.Error:
                    pass
                stop.wait(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        stop.set()
        sampler.join()
        process_s = time.perf_counter() - t0
    text = log_file.read_text()
    lines = [line for line in text.splitlines() if line.startswith("RESULT ")]
    if stopped:
        return {"seconds": None, "stopped": stopped, "written": None, "skipped": None,
                "peak_rss_mb": peak / 2**20, "process_s": process_s}
    if code or not lines:
        raise RuntimeError(f"run into {warehouse} failed (exit {code}); see {log_file}:\n{text[-3000:]}")
    result = json.loads(lines[-1][7:])
    result.update(peak_rss_mb=peak / 2**20, process_s=process_s)
    return result


# ------------------------------------------------------------------------------ report
def fmt(value, spec: str = ".0f") -> str:
    return "-" if value is None else format(value, spec)


def print_table(rows: list[tuple[str, str, str, str, str]]) -> None:
    head = ("measure", "OLD (Parquet+views)", "NEW (DuckLake)", "target", "")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(5)]
    line = lambda r: "  ".join(c.ljust(w) if i == 0 or i >= 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    print(line(head))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r) if r[0] else "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--articles", type=int, default=1_000_000, help="articles in the big lake (default 1,000,000)")
    ap.add_argument("--keep", help="keep the warehouses in this folder (default: a temporary folder, removed)")
    ap.add_argument("--reuse", action="store_true", help="measure the build already in --keep (same --articles)")
    ap.add_argument("--base", type=int, default=2000, help="AllSides articles the pipeline runs on (default 2000)")
    ap.add_argument("--no-spread", action="store_true",
                    help="skip the 100-article run with AllSides dates years apart (on 1M articles it needs > 12 GB)")
    ap.add_argument("--eval-dir")
    ap.add_argument("--child-run", nargs=2, metavar=("WAREHOUSE", "INPUTS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_run:
        return child_run(*args.child_run)

    eval_dir = find_eval_dir(args.eval_dir)
    if not (eval_dir / CORPUS).is_file():
        print(f"skipped: no evaluation data at {eval_dir}")
        return 0
    if args.reuse and not args.keep:
        ap.error("--reuse needs --keep DIR")
    work = Path(args.keep).resolve() if args.keep else Path(tempfile.mkdtemp(prefix="fpwatch-bench-warehouse-"))
    work.mkdir(parents=True, exist_ok=True)
    meta_file = work / "meta.json"
    new_root, old_root = work / "new", work / "old"
    try:
        records = load_records(eval_dir)
        meta = json.loads(meta_file.read_text()) if meta_file.exists() else {}
        same_build = meta.get("articles_wanted") == args.articles and meta.get("base_wanted") == args.base
        if args.reuse:
            if not same_build or "disk" not in meta:
                ap.error(f"no finished build of {args.articles} articles in {work}")
            meta["cycle"] = meta.get("cycle", 0) + 1
        elif same_build and "disk" not in meta:  # an interrupted build: go on from its last finished step
            log(f"resuming the build in {work} after: {', '.join(k for k in STEPS if k in meta) or 'nothing'}")
        else:
            for name in ("input", "new", "old", "empty", "duckdb_tmp"):
                shutil.rmtree(work / name, ignore_errors=True)
            meta = {"articles_wanted": args.articles, "base_wanted": args.base, "cycle": 0}
            meta_file.write_text(json.dumps(meta, indent=1, default=str))
        c = meta["cycle"]
        spread_dir = work / "input" / f"fresh-{c}-spread"
        write_inputs(fresh_records(records, args.base, 2 * c), spread_dir)

        with prefect_harness():
            log(f"Prefect API up; work folder {work}")
            if not args.reuse:
                def step(name: str, what: str, fn) -> None:  # each finished step is saved: a rerun resumes
                    if name in meta:
                        return
                    log(f"{what} ...")
                    meta[name] = fn()
                    log(f"  {meta[name]}")
                    meta_file.write_text(json.dumps(meta, indent=1, default=str))

                write_inputs(list(enumerate(records[:args.base])), work / "input" / "base")
                step("base_run", f"pipeline run on {args.base} AllSides articles",
                     lambda: base_run(work / "input" / "base", new_root))
                step("replicate", f"replicating to {args.articles} articles",
                     lambda: replicate(new_root, args.articles, work))
                meta.update(lo=meta["replicate"]["lo"], hi=meta["replicate"]["hi"])
                step("compact", "compacting (fpwatch compact)", lambda: compact(new_root))
                step("old", "writing the old layout", lambda: build_old(new_root, old_root, work))
                shutil.rmtree(work / "duckdb_tmp", ignore_errors=True)
                meta["disk"] = {
                    "new_bytes": du([new_root]), "new_files": count_files(new_root / "lake"),
                    "new_catalog_bytes": du(list(new_root.glob("catalog.sqlite*"))),
                    "old_bytes": du([old_root]), "old_files": count_files(old_root / "lake"),
                    "old_catalog_bytes": du([old_root / "warehouse.duckdb"]),
                }
                meta_file.write_text(json.dumps(meta, indent=1, default=str))

            import duckdb

            from flows.warehouse.lake import connect_analyst, resolve_location

            if args.reuse:  # the analyst views as the tree has them now, on both sides
                from flows.warehouse.store import Warehouse

                store = Warehouse(new_root)
                store.ensure_catalog()
                store.close()
                old_views(old_root)
            params = query_params(new_root, meta)
            queries = analyst_queries(params)
            log(f"queries: entity {params['entity']} ({params['entity_name']}), topic {params['topic']}, "
                f"year {params['y0']}..{params['y1']}, month {params['m0']}..{params['m1']}, "
                f"week {params['w0']}..{params['w1']}")
            log("timing analyst queries, OLD ...")
            old_connect, old_q = time_queries(
                lambda: duckdb.connect(str(old_root / "warehouse.duckdb"), read_only=True), queries)
            log("timing analyst queries, NEW ...")
            new_connect, new_q = time_queries(lambda: connect_analyst(resolve_location(new_root)), queries)
            for (name, _, _), (_, a), (_, b) in zip(queries, old_q, new_q):
                same = "same answer" if a == b else f"ANSWERS DIFFER: old {a} new {b}"
                log(f"  {name}: {b[0]} rows, first {b[1]}; {same}")

            # Two sets of 100 fresh articles: "spread" keeps the AllSides dates (years apart, as the
            # corpus has them); "recent" is dated on the last two days of the lake (an hourly run).
            recent_dir = work / "input" / f"fresh-{c}-recent"
            hi = dt.date.fromisoformat(meta["hi"])
            write_inputs(fresh_records(records, args.base, 2 * c + 1), recent_dir,
                         [(hi - dt.timedelta(days=k % 2)).isoformat() for k in range(FRESH)])
            log("100-article runs ...")
            empty = {name: work / "empty" / f"cycle-{c}-{name}" for name in ("spread", "recent")}
            for folder in empty.values():
                shutil.rmtree(folder, ignore_errors=True)
            logs = work / "logs"
            logs.mkdir(exist_ok=True)
            plan = [
                ("empty_recent", empty["recent"], recent_dir), ("empty_spread", empty["spread"], spread_dir),
                ("big_recent", new_root, recent_dir), ("big_spread", new_root, spread_dir),
                ("big_noop", new_root, recent_dir), ("empty_noop", empty["recent"], recent_dir),
            ]
            if args.no_spread:
                plan = [step for step in plan if "spread" not in step[0]]
            runs = {}
            for name, warehouse_dir, inputs in plan:
                runs[name] = timed_run(warehouse_dir, inputs, logs / f"run-{name}-{c}.log")
                log(f"  {name}: {runs[name]}")
            versions = {r.get("pipeline_version") for r in runs.values() if r.get("pipeline_version")}
            if len(versions) > 1:
                log(f"WARNING: the pipeline version changed during the bench ({sorted(versions)}): the tree was edited")
            meta["runs"] = runs
            meta_file.write_text(json.dumps(meta, indent=1, default=str))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    # ---------------------------------------------------------------- the table
    rep, disk = meta["replicate"], meta["disk"]
    print()
    print(f"N = {rep['articles']:,} articles ({rep['base']} pipeline articles x {rep['copies']} copies, "
          f"{rep['commits']} commits), partitions {rep['lo']} .. {rep['hi']}; "
          f"p50 of {RUNS} runs after {WARMUP} warm-up")
    rows = [
        (f"build: pipeline run, {meta['base_run']['written']:,} AllSides articles (s)", "-", fmt(meta["base_run"]["seconds"], ".1f"), "", ""),
        ("build: copy rows to N (s)", fmt(meta["old"]["seconds"], ".1f"), fmt(rep["seconds"], ".1f"), "",
         "OLD: COPY from NEW"),
        ("build: fpwatch compact (s)", "-", fmt(meta["compact"]["seconds"], ".1f"), "",
         f"files {meta['compact']['data_files_before']} -> {meta['compact']['data_files_after']}"),
        ("build: total (s)", "", fmt(meta["base_run"]["seconds"] + rep["seconds"] + meta["compact"]["seconds"]
                                     + meta["old"]["seconds"], ".0f"), "", "pipeline + copies + compact + OLD"),
        ("", "", "", "", ""),
        ("analyst connect (ms)", fmt(old_connect), fmt(new_connect), "", ""),
    ]
    for (name, _, held), (old_ms, _), (new_ms, _) in zip(queries, old_q, new_q):
        target = f"< {TARGET_QUERY_MS} ms" if held else "(none)"
        verdict = ("ok" if new_ms < TARGET_QUERY_MS else "OVER") if held else ""
        rows.append((f"{name} p50 (ms)", fmt(old_ms), fmt(new_ms), target, verdict))
    def secs(r: dict) -> str:
        return r["stopped"] if r.get("stopped") else f"{r['seconds']:.1f}"

    rows.append(("", "", "", "", ""))
    for variant, label in (("recent", "dated on the lake's last 2 days"), ("spread", "AllSides dates, years apart")):
        if f"big_{variant}" not in runs:
            rows.append((f"run {FRESH} fresh articles ({label})", "-", "not run (--no-spread)", "", ""))
            continue
        big, empty = runs[f"big_{variant}"], runs[f"empty_{variant}"]
        limit = TARGET_RUN_FACTOR * (empty["seconds"] or float("nan"))
        ok = big["seconds"] is not None and big["seconds"] < limit
        rows += [
            (f"run {FRESH} fresh articles ({label}), empty lake (s)", "-", secs(empty), "", ""),
            (f"run {FRESH} fresh articles ({label}), big lake (s)", "-", secs(big),
             f"< {TARGET_RUN_FACTOR:g}x empty = {limit:.1f} s", "ok" if ok else "OVER"),
            ("  peak RSS of the run's process tree, empty / big (MB)", "-",
             f"{empty['peak_rss_mb']:.0f} / {big['peak_rss_mb']:.0f}", "", ""),
        ]
    noop, empty_noop = runs["big_noop"], runs["empty_noop"]
    rows += [
        ("run with nothing new (100 skipped), big lake (s)", "-", secs(noop), f"< {TARGET_NOOP_S:g} s",
         "ok" if noop["seconds"] is not None and noop["seconds"] < TARGET_NOOP_S else "OVER"),
        ("run with nothing new (100 skipped), empty lake (s)", "-", secs(empty_noop), "", ""),
        ("  written / skipped: big recent, big nothing-new", "-",
         f"{runs['big_recent']['written']}/{runs['big_recent']['skipped']}, {noop['written']}/{noop['skipped']}", "", ""),
        ("", "", "", "", ""),
        ("disk: data + catalog (MB)", fmt(disk["old_bytes"] / 1e6), fmt(disk["new_bytes"] / 1e6), "", ""),
        ("disk: catalog file (MB)", fmt(disk["old_catalog_bytes"] / 1e6, ".1f"),
         fmt(disk["new_catalog_bytes"] / 1e6, ".1f"), "", "warehouse.duckdb / catalog.sqlite"),
        ("data files (Parquet)", fmt(disk["old_files"], "d"), fmt(disk["new_files"], "d"), "", ""),
    ]
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
