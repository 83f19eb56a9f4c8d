"""Backfill and reprocess: parameter validation, days in date order as chunks of whole days, one
transaction per chunk, re-runs, rejects, and a backfill that overlaps another run's commits."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from http_server import local_server  # noqa: F401  (fixture: a real HTTP server on 127.0.0.1)

from flows.jobs.backfill import (
    BackfillError,
    SourceSelector,
    day_documents,
    day_range,
    plan_days,
    process_days,
    read_raw_inputs,
)
from flows.settings import Settings, get_settings
from flows.warehouse.store import Warehouse
from transforms import PIPELINE_VERSION

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
DAY = dt.date(2021, 12, 12)  # the dated seeds 000 and 004
DECEMBER = ("2021-12-01", "2021-12-31")
LINEAGE = ["run_id", "ingested_at", "pipeline_version"]
ARTICLE_TABLES = ("articles", "mentions", "events", "article_topics", "article_signatures", "sentence_country_pairs")
DERIVED = (*ARTICLE_TABLES, "stories")  # rebuilt from raw_inputs by a backfill

#: Five days of inputs (seed texts re-dated), fed to the warehouse one day per incremental run. One
#: story runs through all of them; the copy of seed 000 on 12-14 duplicates the 12-11 article (and
#: seed 001, on 12-13, is a near copy of it).
CORPUS = {
    dt.date(2021, 12, 10): ["002"],
    dt.date(2021, 12, 11): ["000"],
    dt.date(2021, 12, 12): ["004", "003"],
    dt.date(2021, 12, 13): ["001"],
    dt.date(2021, 12, 14): ["000"],
}
CORPUS_DAYS = sorted(CORPUS)


def _seed_text(number: str) -> str:
    """A seed's text without its ` date YYYY-MM-DD ` header."""
    text = next(SEEDS.glob(f"{number}_*.txt")).read_text()
    return text.split(" ", 3)[3] if text.startswith(" date ") else text


def _dated(number: str, day: dt.date) -> str:
    return f" date {day.isoformat()} " + _seed_text(number)


@pytest.fixture
def wh(seed_run, tmp_path):
    """A private copy of the seed warehouse."""
    root = tmp_path / "wh"
    shutil.copytree(seed_run[1], root)
    return root


@pytest.fixture(scope="module")
def incremental(prefect_harness, tmp_path_factory):
    """The CORPUS ingested as it would arrive: one `ingest` run per day, in date order, into one inbox.

    Returns (warehouse path, {day: [article ids]}).
    """
    from flows.jobs.ingest import ingest_flow

    base = tmp_path_factory.mktemp("incremental")
    inbox, root = base / "inbox", base / "wh"
    inbox.mkdir()
    for day in CORPUS_DAYS:
        for number in CORPUS[day]:
            (inbox / f"{day.isoformat()}_{number}.txt").write_text(_dated(number, day))
        summary = ingest_flow(paths=[str(inbox)], warehouse=str(root))
        assert summary["status"] == "completed" and summary["articles_written"] == len(CORPUS[day]), summary
    ids = Warehouse(root).query("select partition_date, article_id from articles order by all")
    by_day = {d: ids.filter(pl.col("partition_date") == d)["article_id"].to_list() for d in CORPUS_DAYS}
    assert [len(by_day[d]) for d in CORPUS_DAYS] == [len(CORPUS[d]) for d in CORPUS_DAYS]
    return root, by_day


@pytest.fixture
def days_wh(incremental, tmp_path):
    """A private copy of the incremental warehouse."""
    root = tmp_path / "days"
    shutil.copytree(incremental[0], root)
    return root


@pytest.fixture
def chunk_size(monkeypatch, request):
    """Set FPWATCH_CHUNK_SIZE for the flows of one test (settings are cached per process)."""

    def set_size(size: int) -> None:
        monkeypatch.setenv("FPWATCH_CHUNK_SIZE", str(size))
        get_settings.cache_clear()

    request.addfinalizer(get_settings.cache_clear)  # after monkeypatch restores the environment
    return set_size


def _lake_state(root: Path) -> tuple:
    """What a write would change: the newest snapshot, the runs rows, and the data files."""
    store = Warehouse(root)
    files = sorted((str(p.relative_to(root)), p.stat().st_mtime_ns) for p in (root / "lake").rglob("*") if p.is_file())
    return store.snapshot_id(), store.read("runs").height, files


def _links(root: Path) -> pl.DataFrame:
    """Where every article went: partition, duplicate and story."""
    return Warehouse(root).query(
        "select article_id, partition_date, duplicate_of, story_id from articles order by article_id"
    )


def _stories(root: Path) -> pl.DataFrame:
    return Warehouse(root).query(
        "select story_id, title, first_published, last_published, article_count, publisher_count "
        "from stories order by story_id"
    )


def _rows(store: Warehouse, table: str) -> pl.DataFrame:
    """A table without lineage columns, in a stable order."""
    frame = store.read(table).drop(LINEAGE, strict=False)
    key = [c for c in ("story_id", "entity_id", "article_id", "start_char", "topic", "sentence_index",
                       "country_a", "country_b", "event_id") if c in frame.columns]
    return frame.sort(key)


def _chunk_tags(store: Warehouse, run_id: str) -> list[tuple[int, int]]:
    """(snapshot id, chunk number) of the commits a run tagged, in commit order."""
    snaps = store.query(
        "select snapshot_id, commit_extra_info from ducklake_snapshots('lake') "
        "where commit_extra_info is not null order by snapshot_id"
    )
    tags = [(s, json.loads(e)) for s, e in snaps.iter_rows()]
    return [(s, t["chunk"]) for s, t in tags if t.get("run_id") == run_id]


def _task_runs(flow_run_id: str, *, expect: int = 0, wait_s: float = 30.0) -> list:
    """Task runs of a flow run. Prefect records task runs from events sent in the background, so
    right after a flow returns some may not be stored yet: poll until `expect` are (or time is up)."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    deadline = time.monotonic() + wait_s
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[uuid.UUID(flow_run_id)]))
            )
            if len(runs) >= expect or time.monotonic() > deadline:
                return runs
            time.sleep(0.5)


def _task_names(flow_run_id: str, expect: int) -> Counter:
    """Task runs per task name (the part of the run name before its random suffix)."""
    return Counter(t.name.rsplit("-", 1)[0] for t in _task_runs(flow_run_id, expect=expect))


# ------------------------------------------------------------------------------ parameters
def test_plan_days_splits_the_range_into_day_partitions():
    days = plan_days(*DECEMBER, "reprocess", Settings())
    assert len(days) == 31 and days[0] == dt.date(2021, 12, 1) and days[-1] == dt.date(2021, 12, 31)
    assert plan_days(dt.date(2024, 2, 28), dt.date(2024, 3, 1), "refetch", Settings()) == day_range(
        dt.date(2024, 2, 28), dt.date(2024, 3, 1)
    )
    assert len(day_range(dt.date(2024, 2, 28), dt.date(2024, 3, 1))) == 3  # leap day included


@pytest.mark.parametrize(
    ("start", "end", "mode", "message"),
    [
        ("2024-02-01", "2024-01-01", "reprocess", "end (2024-01-01) is before start (2024-02-01)"),
        ("2020-01-01", "2024-01-01", "reprocess", "over the maximum of 366"),
        ("2024-01-01", "2024-01-02", "replay", "mode must be one of reprocess, refetch"),
        ("2024-13-01", "2024-01-02", "reprocess", "start must be a date like 2024-01-31"),
    ],
)
def test_bad_parameters_are_named_in_one_message(start, end, mode, message):
    with pytest.raises(BackfillError, match=message.replace("(", r"\(").replace(")", r"\)")):
        plan_days(start, end, mode, Settings())


def test_a_range_in_the_future_is_refused_and_one_ending_after_today_stops_today():
    today = dt.date(2024, 6, 10)
    with pytest.raises(BackfillError, match=r"2024-06-11..2024-06-20 is entirely in the future \(today is 2024-06-10"):
        plan_days("2024-06-11", "2024-06-20", "reprocess", Settings(), today=today)
    days = plan_days("2024-06-08", "2024-06-20", "reprocess", Settings(), today=today)
    assert days == day_range(dt.date(2024, 6, 8), today)
    assert plan_days("2024-06-10", "2024-06-10", "reprocess", Settings(), today=today) == [today]


def test_the_maximum_range_is_a_setting():
    assert len(plan_days("2024-01-01", "2024-01-05", "reprocess", Settings(max_backfill_days=5))) == 5
    with pytest.raises(BackfillError, match="over the maximum of 4"):
        plan_days("2024-01-01", "2024-01-05", "reprocess", Settings(max_backfill_days=4))


def test_bad_parameters_fail_the_flow_and_write_nothing(prefect_harness, wh, tmp_path):
    from flows.jobs.backfill import backfill_flow

    fresh = tmp_path / "never-created"
    with pytest.raises(BackfillError, match="before start"):
        backfill_flow(start="2024-02-01", end="2024-01-01", warehouse=str(fresh))
    assert not fresh.exists()
    Warehouse(wh).ensure_catalog()
    before = _lake_state(wh)
    with pytest.raises(BackfillError, match="unknown source 'Le Monde'.*known: IRIA, Nikkei Asia"):
        backfill_flow(start=DECEMBER[0], end=DECEMBER[1], sources=["Le Monde"], warehouse=str(wh))
    assert _lake_state(wh) == before  # no snapshot, no `runs` row, no data file
    future = dt.date.today() + dt.timedelta(days=30)
    state = backfill_flow(start=future, end=future + dt.timedelta(days=3), warehouse=str(wh), return_state=True)
    assert state.is_failed() and state.message.startswith(f"{future}..") and "entirely in the future" in state.message
    assert "Traceback" not in state.message and "\n" not in state.message  # one line: the run page's headline
    assert _lake_state(wh) == before
    from flows.jobs.reprocess import reprocess_flow

    state = reprocess_flow(start="2024-02-01", end="2024-01-01", warehouse=str(wh), return_state=True)
    assert state.is_failed() and state.message == "end (2024-01-01) is before start (2024-02-01)"
    assert _lake_state(wh) == before


# ------------------------------------------------------------------------------ runs
def test_backfill_of_31_days_is_one_chunk_and_a_rerun_gives_the_same_rows(prefect_harness, wh):
    from flows.jobs.backfill import backfill_flow

    store = Warehouse(wh)
    tables = (*ARTICLE_TABLES, "raw_inputs", "stories", "entities")
    before = {t: _rows(store, t) for t in tables}
    for attempt in (1, 2):  # the first backfill rebuilds the seed rows; the second, its own
        summary = backfill_flow(start=DECEMBER[0], end=DECEMBER[1], warehouse=str(wh))
        assert summary["status"] == "completed" and summary["days"] == 31
        assert summary["partitions"] == [DAY]
        assert summary["articles_in"] == summary["articles_written"] == 2
        assert summary["skipped"] == 0, "a backfill re-transforms unchanged inputs"
        day_rows = store.query("select run_id from articles where partition_date = $d", {"d": DAY})
        assert day_rows["run_id"].to_list() == [summary["run_id"]] * 2, attempt
        for table, old in before.items():  # same inputs, same pipeline: the same rows come back
            assert _rows(store, table).equals(old), (attempt, table)
        runs = store.read("runs").filter(pl.col("run_id") == summary["run_id"])
        assert runs["flow"].to_list() == ["backfill"] and runs["status"].to_list() == ["completed"]
        assert "Partitions replaced:** 2021-12-12" in summary["report"]
        # 31 days, 2 inputs: one chunk, so one transaction, not one task or commit per day
        tags = _chunk_tags(store, summary["run_id"])
        assert [c for _, c in tags] == [1] and [s for s, _ in tags] == summary["snapshots"]
        names = _task_names(summary["run_id"], expect=4)
        assert names == {"transform-batch": 1, "link-articles": 1, "commit-chunk": 1, "data-checks": 1}, names


def test_backfill_by_publisher_touches_only_that_publisher(prefect_harness, wh):
    from flows.jobs.backfill import backfill_flow

    store = Warehouse(wh)
    nikkei = store.read("articles").filter(pl.col("publisher") == "Nikkei Asia")
    day = nikkei["partition_date"][0]
    summary = backfill_flow(start=day, end=day, sources=["nikkei asia"], warehouse=str(wh))
    assert summary["articles_written"] == 1
    rows = store.read("articles").filter(pl.col("partition_date") == day)
    rebuilt = rows.filter(pl.col("run_id") == summary["run_id"])
    assert rebuilt["publisher"].to_list() == ["Nikkei Asia"]
    assert rows.height > rebuilt.height  # the other articles of that day were left alone


def _age_partition(store: Warehouse, table: str, day: dt.date, version: str = "0.0.0-old") -> None:
    store.commit(
        lambda cur: cur.execute(
            f'update "{table}" set pipeline_version = $v where partition_date = $d', {"v": version, "d": day}
        ),
        what=f"test: {table} {day} written by pipeline {version}",
    )


def test_reprocess_rebuilds_only_partitions_of_an_older_pipeline(prefect_harness, wh):
    from flows.jobs.reprocess import reprocess_flow

    store = Warehouse(wh)
    _age_partition(store, "articles", DAY)
    summary = reprocess_flow(warehouse=str(wh))
    assert summary["status"] == "completed"
    assert summary["days"] == 1 and summary["partitions"] == [DAY]
    assert summary["articles_written"] == 2
    versions = store.read("articles").group_by("partition_date").agg(pl.col("pipeline_version").unique())
    assert all(v == [PIPELINE_VERSION] for v in versions["pipeline_version"].to_list())
    again = reprocess_flow(warehouse=str(wh))
    assert again["days"] == 0 and "nothing to reprocess" in again["message"]
    assert again["articles_written"] == 0 and again["snapshots"] == []


def test_reprocess_drops_articles_the_pipeline_now_rejects(prefect_harness, wh):
    from flows.jobs.reprocess import outdated_days, reprocess_flow

    store = Warehouse(wh)
    victim, source = store.query(
        "select article_id, source from raw_inputs where partition_date = $d order by article_id limit 1", {"d": DAY}
    ).row(0)
    story = store.query("select story_id from articles where article_id = $a", {"a": victim})["story_id"][0]
    members = store.query("select count(*) as n from articles where story_id = $s", {"s": story})["n"][0]
    store.commit(  # as if the page had been stored as it is now: a navigation shell, no article
        lambda cur: cur.execute(
            "update raw_inputs set content = $c, kind = 'html' where article_id = $a",
            {"c": "<html><body><nav>Home</nav></body></html>", "a": victim},
        ),
        what="test: the victim's raw input is now a page without an article",
    )
    summary = reprocess_flow(start=DAY, end=DAY, only_outdated=False, warehouse=str(wh))
    assert summary["status"] == "completed"
    for table in ARTICLE_TABLES:
        assert victim not in store.read(table)["article_id"].to_list(), table
    raw = store.read("raw_inputs").filter(pl.col("article_id") == victim)
    assert raw.height == 1 and "<nav>Home</nav>" in raw["content"][0]  # kept for a better pipeline
    assert raw["pipeline_version"].to_list() == [PIPELINE_VERSION]
    assert summary["rejects"] == 1 and "1 articles removed" in summary["message"]
    assert store.read("rejects").filter(pl.col("source") == source)["run_id"].to_list() == [summary["run_id"]]
    count = store.query("select article_count from stories where story_id = $s", {"s": story})["article_count"]
    assert count.to_list() == [members - 1]  # the story it belonged to no longer counts it
    assert outdated_days(store, [DAY]) == []  # the rejected input does not make the day look stale


# ------------------------------------------------------------------------------ date order and chunks
def test_days_come_in_date_order_as_chunks_of_whole_days(prefect_harness, days_wh, incremental):
    from prefect import flow

    from flows.pipeline.runs import RunContext

    store = Warehouse(days_wh)
    raw = store.query("select source, partition_date from raw_inputs")
    day_of = dict(raw.iter_rows())

    @flow
    def read_days() -> list[pl.DataFrame]:
        run = RunContext("t", "backfill", {}, dt.datetime.now(dt.timezone.utc), store)
        scrambled = [CORPUS_DAYS[i] for i in (3, 0, 4, 2, 1)]
        return list(day_documents(scrambled, "reprocess", SourceSelector(), Settings(chunk_size=2), run))

    chunks = [[day_of[s] for s in chunk["source"]] for chunk in read_days()]
    d10, d11, d12, d13, d14 = CORPUS_DAYS
    # a chunk closes once it holds chunk_size inputs, and never in the middle of a day
    assert chunks == [[d10, d11], [d12, d12], [d13, d14]]


def test_backfill_from_raw_inputs_finds_the_duplicates_and_stories_of_the_incremental_runs(
    prefect_harness, days_wh, incremental, chunk_size, tmp_path
):
    """Days go in date order, each chunk linked against what the earlier chunks committed: a
    backfill that rebuilds every derived row from the raw inputs alone ends where the day-by-day
    runs ended. (Rebuilt latest day first, the same inputs give other duplicates and stories.)"""
    from prefect import flow

    from flows.jobs.backfill import backfill_flow
    from flows.pipeline.process import process_documents
    from flows.pipeline.runs import finish_run, start_run

    expected_links, expected_stories = _links(incremental[0]), _stories(incremental[0])
    by_day = incremental[1]
    copy_of_000 = by_day[CORPUS_DAYS[4]][0]
    assert expected_links.filter(pl.col("article_id") == copy_of_000)["duplicate_of"].to_list() == by_day[CORPUS_DAYS[1]]
    assert expected_links["story_id"].drop_nulls().len() == 6

    def keep_only_raw_inputs(root: Path) -> Warehouse:
        store = Warehouse(root)
        store.commit(lambda cur: [cur.execute(f'delete from "{t}"') for t in DERIVED], what="test: raw inputs only")
        assert store.read("articles").is_empty() and store.read("raw_inputs").height == 6
        return store

    store = keep_only_raw_inputs(days_wh)
    chunk_size(1)  # every day with inputs is a chunk of its own
    summary = backfill_flow(start=CORPUS_DAYS[0], end=CORPUS_DAYS[-1], warehouse=str(days_wh))
    assert summary["status"] == "completed" and summary["articles_written"] == 6
    assert summary["duplicates"] == expected_links["duplicate_of"].is_not_null().sum() == 2  # 001 copies 000 too
    assert summary["partitions"] == CORPUS_DAYS
    assert _links(days_wh).equals(expected_links)
    assert _stories(days_wh).equals(expected_stories)
    # one transaction per chunk: a commit-chunk task run and a tagged snapshot each, in order
    tags = _chunk_tags(store, summary["run_id"])
    assert [c for _, c in tags] == [1, 2, 3, 4, 5] and [s for s, _ in tags] == summary["snapshots"]
    names = _task_names(summary["run_id"], expect=16)
    assert names == {"transform-batch": 5, "link-articles": 5, "commit-chunk": 5, "data-checks": 1}, names

    # The control: the same raw inputs rebuilt latest day first.
    backwards = tmp_path / "backwards"
    shutil.copytree(incremental[0], backwards)
    other = keep_only_raw_inputs(backwards)

    @flow
    def rebuild_latest_day_first() -> None:
        run = start_run("backfill", {}, other)
        days = (read_raw_inputs(other, d, SourceSelector()).drop("article_id") for d in reversed(CORPUS_DAYS))
        process_documents(days, settings=Settings(), run=run, force=True)
        finish_run(run, "completed")

    rebuild_latest_day_first()
    reversed_links = _links(backwards)
    assert reversed_links.height == 6
    assert reversed_links.filter(pl.col("article_id") == copy_of_000)["duplicate_of"].to_list() == [None]
    assert not reversed_links["story_id"].equals(expected_links["story_id"])


def test_day_counts_add_up_in_the_run(prefect_harness, wh):
    from prefect import flow

    from flows.pipeline.runs import start_run

    store = Warehouse(wh)

    @flow
    def two_days():
        run = start_run("backfill", {}, store)
        process_days([DAY, DAY + dt.timedelta(days=1)], "reprocess", SourceSelector(), Settings(chunk_size=1), run)
        return run

    run = two_days()
    assert run.articles_in == run.articles_written == 2 and run.skipped == 0
    assert run.partitions == {DAY}
    assert run.chunks == 1 and len(run.snapshots) == 1  # the empty day commits nothing
    assert _chunk_tags(store, run.run_id) == [(run.snapshots[0], 1)]
    row = store.read("runs").filter(pl.col("run_id") == run.run_id).row(0, named=True)
    assert row["status"] == "running" and row["partitions"] == [DAY]  # written with the chunk, run not closed


def test_the_runs_row_committed_with_a_chunk_counts_that_chunk(prefect_harness, wh):
    """A run killed after a chunk leaves a `running` row: it must count what is committed with it."""
    from prefect import flow

    from flows.pipeline.runs import start_run

    store = Warehouse(wh)

    @flow
    def killed_after_one_chunk():
        run = start_run("backfill", {}, store)
        process_days([DAY], "reprocess", SourceSelector(), Settings(), run)
        return run.run_id  # never closed, as if killed here

    run_id = killed_after_one_chunk()
    row = store.read("runs").filter(pl.col("run_id") == run_id).row(0, named=True)
    written = store.query("select count(*) as n from articles where run_id = $r", {"r": run_id})["n"][0]
    assert row["status"] == "running" and written == 2
    assert row["articles_written"] == written


# ------------------------------------------------------------------------------ overlapping runs
LATE_ARTICLE = textwrap.dedent("""\
     date 2021-12-12 Japan's Foreign Minister Yoshimasa Hayashi and U.S. Secretary of State Antony Blinken met
    in Liverpool on the sidelines of the Group of Seven foreign ministers' meeting and agreed to strengthen the
    deterrence and response capabilities of the Japan-U.S. alliance, a late edition of the wire report said.

    Hayashi and Blinken discussed China's growing assertiveness in the Indo-Pacific region and North Korea's
    nuclear and missile programmes, and agreed to cooperate closely with the Association of Southeast Asian
    Nations and with like-minded partners such as Australia, India and the United Kingdom.

    The two ministers also agreed to coordinate on Russia's military build-up near Ukraine and confirmed that
    Japan would host a meeting of the Quad foreign ministers next year, Japan's Foreign Ministry said.
""")


def test_a_backfill_loses_nothing_another_run_commits_meanwhile(prefect_harness, wh, tmp_path, monkeypatch):
    """Another run (another process) commits an article to the very day a backfill is rebuilding,
    while the backfill's chunk transaction is open: both runs' rows, and the story they share, stand."""
    from prefect.settings import PREFECT_API_URL

    from flows.jobs.backfill import backfill_flow

    inbox = tmp_path / "late"
    inbox.mkdir()
    (inbox / "late-edition.txt").write_text(LATE_ARTICLE)
    inside, other_done = threading.Event(), threading.Event()
    attempts: list[int] = []
    other: dict = {}
    original = Warehouse.commit

    def commit(self, work, *args, **kwargs):
        tag = kwargs.get("tag") or {}
        if "chunk" not in tag:
            return original(self, work, *args, **kwargs)

        def paused(cur):  # the chunk's rows are written in the open transaction; hold it there
            result = work(cur)
            attempts.append(tag["chunk"])
            if not inside.is_set():
                inside.set()
                assert other_done.wait(300), "the other run did not finish"
            return result

        return original(self, paused, *args, **kwargs)

    monkeypatch.setattr(Warehouse, "commit", commit)
    code = (
        "import json; from flows.jobs.run import run_flow; "
        f"s = run_flow(paths=[{str(inbox)!r}], warehouse={str(wh)!r}); "
        "print(json.dumps({'run_id': s['run_id'], 'status': s['status'], 'written': s['articles_written']}))"
    )

    def other_run() -> None:
        try:
            if inside.wait(120):
                env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
                out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=280, env=env)
                other["out"] = out
        finally:
            other_done.set()

    worker = threading.Thread(target=other_run)
    worker.start()
    try:
        summary = backfill_flow(start=DECEMBER[0], end=DECEMBER[1], warehouse=str(wh))
    finally:
        other_done.set()
        worker.join(300)
    out = other["out"]
    assert out.returncode == 0, out.stderr[-3000:]
    late = json.loads(out.stdout.strip().splitlines()[-1])
    assert late["status"] == "completed" and late["written"] == 1
    assert summary["status"] == "completed" and summary["articles_written"] == 2
    assert attempts == [1, 1], "the chunk should have been committed again on the other run's snapshot"

    store = Warehouse(wh)
    day = store.query("select article_id, run_id from articles where partition_date = $d", {"d": DAY})
    assert sorted(day["run_id"].to_list()) == sorted([summary["run_id"]] * 2 + [late["run_id"]])
    [late_id] = day.filter(pl.col("run_id") == late["run_id"])["article_id"].to_list()
    for table in ("raw_inputs", "mentions", "article_topics", "article_signatures"):
        assert late_id in store.read(table)["article_id"].to_list(), table
    assert store.read("articles")["article_id"].is_duplicated().sum() == 0
    # every story's summary counts the articles both runs wrote (none lost to a stale rewrite)
    counts = store.query(
        "select s.story_id, s.article_count, count(a.article_id) as members from stories as s "
        "left join articles as a using (story_id) group by all"
    )
    assert counts.height and counts.filter(pl.col("article_count") != pl.col("members")).is_empty(), counts
    runs = store.read("runs").filter(pl.col("run_id").is_in([summary["run_id"], late["run_id"]]))
    assert sorted(runs["status"].to_list()) == ["completed", "completed"]


# ------------------------------------------------------------------------------ refetch
PARAGRAPHS = [
    "Foreign ministers of Japan and Australia met in Canberra on Tuesday to discuss maritime security in the "
    "Indo-Pacific, agreeing to deepen defence cooperation and to hold joint exercises later this year.",
    "The two governments also signed a memorandum on critical minerals, which officials said would reduce "
    "dependence on a single supplier and support the transition to clean energy in both countries.",
    "Analysts said the meeting reflected growing concern in both capitals about regional tensions, and that the "
    "agreement builds on the reciprocal access agreement the two countries concluded two years ago.",
]


def _page(title: str, extra: str) -> str:
    body = "".join(f"<p>{p}</p>" for p in [*PARAGRAPHS, extra])
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        '<meta property="article:published_time" content="2024-03-05T08:00:00Z"></head>'
        f'<body><nav><a href="/">Home</a></nav><article><h1>{title}</h1>{body}</article></body></html>'
    )


def test_refetch_downloads_the_days_pages_again_and_those_rejected_that_day(
    prefect_harness, tmp_path, local_server, monkeypatch, request
):
    import hashlib

    from prefect import flow

    from flows.jobs.backfill import backfill_flow
    from flows.sources.files import DOCUMENT_SCHEMA
    from flows.pipeline.process import process_documents
    from flows.pipeline.runs import finish_run, start_run
    from transforms.feeds import canonicalize_url

    monkeypatch.setenv("FPWATCH_ALLOW_PRIVATE_HOSTS", "true")  # the test server is on 127.0.0.1
    get_settings.cache_clear()  # settings are read once per process: read them again with the switch
    request.addfinalizer(get_settings.cache_clear)  # and again after monkeypatch restores the env
    store = Warehouse(tmp_path / "wh")
    store.ensure_catalog()
    url_a = canonicalize_url(local_server.url("/a.html"))
    url_b = canonicalize_url(local_server.url("/b.html"))
    old = _page("Japan and Australia talk security", "Talks will continue next month.")
    seen = dt.datetime(2024, 3, 5, 9, tzinfo=dt.timezone.utc)

    @flow
    def first_fetch():
        run = start_run("fetch", {}, store)
        docs = pl.DataFrame(
            [{"source": url_a, "kind": "html", "content": old, "url": url_a,
              "raw_sha256": hashlib.sha256(old.encode()).hexdigest(), "first_seen_at": seen}],
            schema=DOCUMENT_SCHEMA,
        )
        process_documents([docs], settings=Settings(), run=run)
        finish_run(run, "completed")

    first_fetch()
    [day] = store.read("articles")["partition_date"].to_list()
    # b.html timed out that day: the source was down.
    store.upsert(
        "rejects",
        pl.DataFrame([{"source": url_b, "reason": "timeout", "detail": "read timed out", "run_id": "old",
                       "rejected_at": dt.datetime.combine(day, dt.time(10), tzinfo=dt.timezone.utc)}]),
        key="source",
    )
    local_server.route("/a.html", _page("Japan and Australia talk security", "UPDATED: a joint statement followed."))
    local_server.route("/b.html", _page("Australia and Japan sign minerals pact", "The pact takes effect in May."))

    summary = backfill_flow(start=day, end=day, mode="refetch", warehouse=str(store.root))
    assert summary["status"] == "completed"
    assert local_server.hits["/a.html"] == 1 and local_server.hits["/b.html"] == 1
    articles = {r["source"]: r for r in store.read("articles").to_dicts()}
    assert set(articles) == {url_a, url_b}
    assert "UPDATED: a joint statement followed." in articles[url_a]["body"]
    raw = dict(store.read("raw_inputs").select("source", "content").iter_rows())
    assert "UPDATED" in raw[url_a] and "minerals pact" in raw[url_b]
    assert url_b not in store.read("rejects")["source"].to_list()
    assert summary["partitions"] == [day] and summary["articles_written"] == 2



def test_ingest_skips_files_it_already_stored(prefect_harness, tmp_path):
    from flows.jobs.ingest import ingest_flow

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    seed = sorted(SEEDS.glob("000_*.txt"))[0]
    shutil.copy(seed, inbox / seed.name)
    wh = str(tmp_path / "wh")
    first = ingest_flow(paths=[str(inbox)], warehouse=wh)
    assert first["status"] == "completed" and first["articles_written"] == 1
    again = ingest_flow(paths=[str(inbox)], warehouse=wh)
    assert again["status"] == "completed"
    assert again["skipped"] == 1 and again["articles_written"] == 0 and again["snapshots"] == []
    assert "1 files unchanged" in again["message"]
    store = Warehouse(wh)
    assert store.read("articles").height == store.read("raw_inputs").height == 1
    runs = store.read("runs").filter(pl.col("flow") == "ingest")
    assert runs["status"].to_list() == ["completed", "completed"]


def test_deployments_are_declared_in_one_place_from_the_settings():
    from prefect.client.schemas.objects import ConcurrencyLimitStrategy

    from flows.jobs.deployments import build_deployments

    deployments = {d.name: d for d in build_deployments(Settings(ingest_cron="*/15 * * * *", reprocess_cron=""))}
    assert {"fpwatch-ingest", "fpwatch-backfill", "fpwatch-reprocess"} <= set(deployments)
    ingest, backfill, reprocess = (deployments[f"fpwatch-{n}"] for n in ("ingest", "backfill", "reprocess"))
    assert ingest.schedules[0].schedule.cron == "*/15 * * * *"
    assert not backfill.schedules and not reprocess.schedules
    assert ingest.concurrency_limit == 1
    assert ingest.concurrency_options.collision_strategy == ConcurrencyLimitStrategy.CANCEL_NEW
    assert backfill.concurrency_options.collision_strategy == ConcurrencyLimitStrategy.ENQUEUE
    assert backfill.entrypoint == "flows.jobs.backfill.backfill_flow"
    from prefect.utilities.callables import parameter_schema

    from flows.jobs.backfill import backfill_flow

    form = parameter_schema(backfill_flow).model_dump()  # what the UI renders as the Custom run form
    assert form["properties"]["sources"]["type"] == "array" and "anyOf" not in form["properties"]["sources"]
    assert form["properties"]["sources"]["default"] == []  # a plain list: no None toggle
    for deployment in deployments.values():  # analysts do not see (or change) the warehouse path
        assert "warehouse" not in deployment._parameter_openapi_schema.properties, deployment.name
    assert "fpwatch-backfill-chunk" not in deployments  # served: no fan-out
    pooled = {d.name: d for d in build_deployments(Settings(backfill_concurrency=3, heartbeat_seconds=45), work_pool=True)}
    chunk = pooled["fpwatch-backfill-chunk"]
    assert chunk.entrypoint == "flows.jobs.backfill.backfill_chunk_flow"
    assert chunk.concurrency_limit == 3
    assert chunk.concurrency_options.collision_strategy == ConcurrencyLimitStrategy.ENQUEUE
    assert pooled["fpwatch-backfill"].job_variables == {"env": {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "45"}}
    assert form["required"] == ["start", "end"]
    assert form["properties"]["start"]["format"] == "date"
    assert "First day partition" in form["properties"]["start"]["description"]
    assert "reprocess re-runs the transforms" in form["properties"]["mode"]["description"]


def test_a_fanned_out_backfill_is_cut_into_chunks_of_days_and_reported_per_chunk():
    from flows.jobs.backfill import chunk_days
    from flows.jobs.fanout import Chunk, render_fanout_report

    days = day_range(dt.date(2024, 1, 1), dt.date(2024, 1, 10))
    parts = chunk_days(days, 4)
    assert [len(p) for p in parts] == [4, 4, 2] and [d for p in parts for d in p] == days
    chunks = [Chunk(p) for p in parts]
    for c, state in zip(chunks, ("COMPLETED", "COMPLETED", "CRASHED"), strict=True):
        c.state, c.attempts, c.seconds, c.articles_in, c.articles_written, c.rejects = state, 1, 12.5, 10, 9, 1
    chunks[2].attempts = 2
    report = render_fanout_report(days, chunks, "reprocess", [], 40.0)
    assert report.startswith("# fpwatch backfill run: failed")
    assert "| 2024-01-01..2024-01-04 | 4 | 10 | 9 | 1 | 12.50 | completed | 1 |" in report
    assert "| 2024-01-09..2024-01-10 | 2 | 10 | 9 | 1 | 12.50 | crashed | 2 |" in report


def test_a_rerun_adopts_the_unfinished_chunk_runs_an_earlier_backfill_left(prefect_harness, tmp_path):
    """A parent that died leaves its chunk runs going: the next backfill takes over a run of exactly one of
    its chunks (no second writer of those days), waits for one over some of its days, ignores the rest."""
    from prefect.client.orchestration import get_client
    from prefect.states import Completed, Running, Scheduled

    from flows.jobs.backfill import backfill_chunk_flow, chunk_days
    from flows.jobs.fanout import Chunk, adopt_earlier_runs, unfinished_chunk_runs

    warehouse = str(tmp_path / "wh")  # this test's own: no other test's chunk run matches it
    chunks = [Chunk(p) for p in chunk_days(day_range(dt.date(2021, 12, 1), dt.date(2021, 12, 6)), 2)]
    with get_client(sync_client=True) as client:
        def chunk_run(start: str, end: str, state, mode: str = "reprocess"):
            params = {"start": start, "end": end, "sources": [], "mode": mode, "warehouse": warehouse}
            return str(client.create_flow_run(backfill_chunk_flow, parameters=params, state=state).id)

        running = chunk_run("2021-12-03", "2021-12-04", Running())  # its parent died: adopted
        chunk_run("2021-12-01", "2021-12-02", Completed())  # finished: the rerun starts that chunk anew
        other_mode = chunk_run("2021-12-05", "2021-12-06", Scheduled(), mode="refetch")  # same days: waited for
        elsewhere = chunk_run("2021-12-20", "2021-12-21", Scheduled())  # other days: no matter
        runs = [r for r in unfinished_chunk_runs(client) if r.parameters.get("warehouse") == warehouse]
    assert {str(r.id) for r in runs} == {running, other_mode, elsewhere}
    overlapping = adopt_earlier_runs(chunks, runs, [], "reprocess", warehouse)
    assert [c.adopted for c in chunks] == [False, True, False]
    assert (chunks[1].flow_run_id, chunks[1].attempts, chunks[1].state) == (running, 1, "RUNNING")
    assert [str(r.id) for r in overlapping] == [other_mode]
    # A backfill of one publisher adopts none of them, and waits for both runs over its days.
    narrower = [Chunk(c.days) for c in chunks]
    overlapping = adopt_earlier_runs(narrower, runs, ["Nikkei Asia"], "reprocess", warehouse)
    assert not any(c.adopted for c in narrower) and {str(r.id) for r in overlapping} == {running, other_mode}
