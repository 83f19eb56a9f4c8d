"""Backfill and reprocess: parameter validation, day partitions as units of work, ordering and locks."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import polars as pl
import pytest
from http_server import local_server  # noqa: F401  (fixture: a real HTTP server on 127.0.0.1)

from flows.backfill import (
    BackfillError,
    SourceSelector,
    Turnstile,
    day_range,
    plan_days,
    rebuild_day,
)
from flows.locks import partition_locked, partition_locks
from flows.settings import Settings
from flows.warehouse import Warehouse
from transforms import PIPELINE_VERSION

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
DAY = dt.date(2021, 12, 12)  # the dated seeds 000 and 004
DECEMBER = ("2021-12-01", "2021-12-31")


@pytest.fixture
def wh(seed_run, tmp_path):
    """A private copy of the seed warehouse (the views are rebuilt for the new location on first use)."""
    root = tmp_path / "wh"
    shutil.copytree(seed_run[1], root, ignore=shutil.ignore_patterns(".locks"))
    return root


def _snapshot(root) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def _task_runs(flow_run_id: str, *, expect: int = 0, wait_s: float = 30.0) -> list:
    """Task runs of a flow run. Prefect records task runs from events sent in the background, so
    right after a flow returns some may not be stored yet: poll until `expect` are (or time is up)."""
    import time

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


def test_the_maximum_range_is_a_setting():
    assert len(plan_days("2024-01-01", "2024-01-05", "reprocess", Settings(max_backfill_days=5))) == 5
    with pytest.raises(BackfillError, match="over the maximum of 4"):
        plan_days("2024-01-01", "2024-01-05", "reprocess", Settings(max_backfill_days=4))


def test_bad_parameters_fail_the_flow_and_write_nothing(prefect_harness, wh, tmp_path):
    from flows.backfill import backfill_flow

    fresh = tmp_path / "never-created"
    with pytest.raises(BackfillError, match="before start"):
        backfill_flow(start="2024-02-01", end="2024-01-01", warehouse=str(fresh))
    assert not fresh.exists()
    Warehouse(wh).ensure_catalog()
    before = _snapshot(wh)
    with pytest.raises(BackfillError, match="unknown source 'Le Monde'.*known: IRIA, Nikkei Asia"):
        backfill_flow(start=DECEMBER[0], end=DECEMBER[1], sources=["Le Monde"], warehouse=str(wh))
    assert _snapshot(wh) == before


# ------------------------------------------------------------------------------ runs
def test_backfill_of_31_days_rebuilds_each_partition_in_a_few_dozen_task_runs(prefect_harness, wh):
    from flows.backfill import backfill_flow

    store = Warehouse(wh)
    lineage = ["run_id", "ingested_at", "pipeline_version"]
    before = {t: store.read(t).drop(lineage, strict=False) for t in ("articles", "mentions", "article_topics")}
    summary = backfill_flow(start=DECEMBER[0], end=DECEMBER[1], warehouse=str(wh))
    assert summary["status"] == "completed" and summary["days"] == 31
    assert summary["partitions"] == [DAY]
    assert summary["articles_in"] == summary["articles_written"] == 2
    day_rows = pl.read_parquet(store.partition_path("articles", DAY))
    assert set(day_rows["run_id"]) == {summary["run_id"]}
    for table, old in before.items():  # same inputs, same pipeline: the same rows come back
        new = store.read(table).drop(lineage, strict=False)
        key = [c for c in ("article_id", "start_char", "topic") if c in new.columns]
        assert new.sort(key).equals(old.sort(key)), table
    assert not list((wh / "lake").rglob(".*tmp*"))
    names = [t.name for t in _task_runs(summary["run_id"], expect=32)]
    assert len(names) <= 36, "a day is one unit of work, not one article or one step"
    assert sum(n.startswith("reprocess-") for n in names) == 31
    assert "reprocess-2021-12-12" in names
    runs = store.read("runs").filter(pl.col("run_id") == summary["run_id"])
    assert runs["flow"].to_list() == ["backfill"] and runs["status"].to_list() == ["completed"]
    assert "Partitions replaced:** 2021-12-12" in summary["report"]


def test_backfill_by_publisher_touches_only_that_publisher(prefect_harness, wh):
    from flows.backfill import backfill_flow

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
    path = store.partition_path(table, day)
    pl.read_parquet(path).with_columns(pipeline_version=pl.lit(version)).write_parquet(path)


def test_reprocess_rebuilds_only_partitions_of_an_older_pipeline(prefect_harness, wh):
    from flows.reprocess import reprocess_flow

    store = Warehouse(wh)
    _age_partition(store, "articles", DAY)
    summary = reprocess_flow(warehouse=str(wh))
    assert summary["status"] == "completed"
    assert summary["days"] == 1 and summary["partitions"] == [DAY]
    versions = store.read("articles").group_by("partition_date").agg(pl.col("pipeline_version").unique())
    assert all(v == [PIPELINE_VERSION] for v in versions["pipeline_version"].to_list())
    again = reprocess_flow(warehouse=str(wh))
    assert again["days"] == 0 and "nothing to reprocess" in again["message"]


def test_reprocess_drops_articles_the_pipeline_now_rejects(prefect_harness, wh):
    from flows.reprocess import reprocess_flow

    store = Warehouse(wh)
    raw_path = store.partition_path("raw_inputs", DAY)
    raw = pl.read_parquet(raw_path)
    victim = raw["article_id"][0]
    raw.with_columns(
        content=pl.when(pl.col("article_id") == victim).then(pl.lit("<html><body><nav>Home</nav></body></html>"))
        .otherwise(pl.col("content")),
        kind=pl.when(pl.col("article_id") == victim).then(pl.lit("html")).otherwise(pl.col("kind")),
    ).write_parquet(raw_path)
    summary = reprocess_flow(start=DAY, end=DAY, only_outdated=False, warehouse=str(wh))
    assert summary["status"] == "completed"
    for table in ("articles", "mentions", "article_topics", "article_signatures"):
        assert victim not in store.read(table)["article_id"].to_list(), table
    assert victim in store.read("raw_inputs")["article_id"].to_list()  # kept for a better pipeline
    assert summary["rejects"] == 1 and "1 articles removed" in summary["message"]
    from flows.reprocess import outdated_days

    assert outdated_days(store, [DAY]) == []  # the rejected input does not make the day look stale


# ------------------------------------------------------------------------------ ordering and locks
def test_turnstile_lets_days_write_in_date_order_whatever_order_they_arrive():
    days = day_range(dt.date(2024, 1, 1), dt.date(2024, 1, 4))
    gate = Turnstile(days)
    written: list[dt.date] = []

    def work(day: dt.date, delay: float) -> None:
        time.sleep(delay)
        with gate.turn(day):
            written.append(day)

    delays = {days[0]: 0.3, days[1]: 0.0, days[2]: 0.2, days[3]: 0.05}
    threads = [threading.Thread(target=work, args=(d, s)) for d, s in delays.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert written == days


def test_a_failed_day_does_not_block_the_later_ones():
    days = day_range(dt.date(2024, 1, 1), dt.date(2024, 1, 2))
    gate = Turnstile(days)
    gate.done(days[0])  # what rebuild_day does when reading or transforming fails
    done = threading.Event()

    def later() -> None:
        with gate.turn(days[1]):
            done.set()

    threading.Thread(target=later).start()
    assert done.wait(2)


def test_a_day_being_written_elsewhere_makes_the_rebuild_wait(prefect_harness, wh):
    from flows.runs import start_run

    store = Warehouse(wh)
    store.ensure_catalog()
    run = start_run("backfill", {}, store)
    target = store.partition_path("articles", DAY)
    mtime = target.stat().st_mtime_ns
    errors: list[BaseException] = []

    def rebuild() -> None:
        try:
            rebuild_day(DAY, "reprocess", SourceSelector(), Settings(), run, Turnstile([DAY]))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    with partition_locks(store, [DAY]):
        worker = threading.Thread(target=rebuild)
        worker.start()
        worker.join(4)  # reading and transforming two articles takes well under this
        assert worker.is_alive(), "the rebuild must wait for the partition lock"
        assert target.stat().st_mtime_ns == mtime
    worker.join(60)
    assert not errors and not worker.is_alive()
    assert target.stat().st_mtime_ns != mtime
    assert set(pl.read_parquet(target)["run_id"]) == {run.run_id}


def test_partition_locks_hold_across_processes(tmp_path):
    store = Warehouse(tmp_path / "wh")
    code = textwrap.dedent(f"""
        import datetime as dt
        from flows.locks import partition_locks
        from flows.warehouse import Warehouse
        try:
            with partition_locks(Warehouse({str(store.root)!r}), [dt.date(2021, 12, 12)], timeout_s=0.5):
                print("acquired")
        except TimeoutError as exc:
            print("timeout:", exc)
    """)
    with partition_locks(store, [DAY, DAY + dt.timedelta(days=1)]):
        assert partition_locked(store, DAY)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert "timeout: partition 2021-12-12 is being written by another run" in out.stdout, out.stderr
    assert not partition_locked(store, DAY)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "acquired", out.stderr


def test_day_results_add_up_in_the_run(prefect_harness, wh):
    from prefect import flow

    from flows.backfill import process_days
    from flows.runs import start_run

    store = Warehouse(wh)
    store.ensure_catalog()

    @flow
    def two_days():
        run = start_run("backfill", {}, store)
        results = process_days([DAY, DAY + dt.timedelta(days=1)], "reprocess", SourceSelector(),
                               Settings(backfill_concurrency=2), run)
        return run, results

    run, results = two_days()
    assert [r.day for r in results] == [DAY, DAY + dt.timedelta(days=1)]
    assert results[1].articles_in == 0 and results[1].partitions == []
    assert run.articles_written == results[0].articles_written == 2
    assert run.partitions == {DAY}
    assert dataclasses.is_dataclass(results[0])


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

    from flows.backfill import backfill_flow
    from flows.files import DOCUMENT_SCHEMA
    from flows.pipeline import ingest_documents
    from flows.runs import finish_run, start_run
    from transforms.feeds import canonicalize_url

    from flows.settings import get_settings

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
        ingest_documents(docs, settings=Settings(), run=run)
        finish_run(run, "completed")

    first_fetch()
    [day] = store.read("articles")["partition_date"].to_list()
    # b.html timed out that day: the source was down.
    store.replace_whole(
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


# ------------------------------------------------------------------------------ ingest and deployments
def test_ingest_skips_files_it_already_stored(prefect_harness, tmp_path):
    from flows.ingest import ingest_flow
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    seed = sorted(SEEDS.glob("000_*.txt"))[0]
    shutil.copy(seed, inbox / seed.name)
    wh = str(tmp_path / "wh")
    first = ingest_flow(paths=[str(inbox)], warehouse=wh)
    assert first["status"] == "completed" and first["articles_written"] == 1
    again = ingest_flow(paths=[str(inbox)], warehouse=wh)
    assert again["articles_in"] == 0 and again["articles_written"] == 0
    assert "1 files unchanged" in again["message"]
    assert Warehouse(wh).read("runs").filter(pl.col("flow") == "ingest").height == 2


def test_deployments_are_declared_in_one_place_from_the_settings():
    from prefect.client.schemas.objects import ConcurrencyLimitStrategy

    from flows.deployments import build_deployments

    ingest, backfill, reprocess = build_deployments(Settings(ingest_cron="*/15 * * * *", reprocess_cron=""))
    assert [d.name for d in (ingest, backfill, reprocess)] == ["fpwatch-ingest", "fpwatch-backfill", "fpwatch-reprocess"]
    assert ingest.schedules[0].schedule.cron == "*/15 * * * *"
    assert not backfill.schedules and not reprocess.schedules
    assert ingest.concurrency_limit == 1
    assert ingest.concurrency_options.collision_strategy == ConcurrencyLimitStrategy.CANCEL_NEW
    assert backfill.concurrency_options.collision_strategy == ConcurrencyLimitStrategy.ENQUEUE
    assert backfill.entrypoint == "flows.backfill.backfill_flow"
    from prefect.utilities.callables import parameter_schema

    from flows.backfill import backfill_flow

    form = parameter_schema(backfill_flow).model_dump()  # what the UI renders as the Custom run form
    assert form["required"] == ["start", "end"]
    assert form["properties"]["start"]["format"] == "date"
    assert "First day partition" in form["properties"]["start"]["description"]
    assert "reprocess re-runs the transforms" in form["properties"]["mode"]["description"]
