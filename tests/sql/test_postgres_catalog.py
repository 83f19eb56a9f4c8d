"""The warehouse on a shared PostgreSQL DuckLake catalog: a real server, real writer processes.

Each test gets an empty database of its own on one PostgreSQL server per session
(tests/postgres_server.py); data files go to the test's tmp_path.
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing as mp
import queue as queue_module
import re
import time
import traceback
from pathlib import Path

import duckdb
import polars as pl
import pytest

from flows.warehouse.store import Warehouse, load_contract, replace_rows

D1, D2 = dt.date(2024, 3, 1), dt.date(2024, 3, 2)
WRITERS = ("x", "y")
CHUNKS = 20
PER_CHUNK = 3
MENTIONS_PER_ARTICLE = 2
#: Ids both writers delete and re-insert on every chunk (seeded before they start).
SHARED = [f"shared-{i}" for i in range(4)]
ORPHANS = (
    "select count(*) from articles a where not exists (select 1 from mentions m where m.article_id = a.article_id)"
)
DOUBLED = "select count(*) - count(distinct article_id) from articles"


def _dbname(catalog: str) -> str:
    return dict(part.split("=", 1) for part in catalog.split(":", 1)[1].split())["dbname"]


def _warehouse(root: Path | str, catalog: str) -> Warehouse:
    """A client of the PostgreSQL catalog with its data files under root/lake."""
    return Warehouse(root, catalog=catalog, data_path=str(Path(root) / "lake"))


def _frames(ids: list[str], day: dt.date, run_id: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Articles with non-null source/body/partition_date, and MENTIONS_PER_ARTICLE mentions of each."""
    articles = pl.DataFrame({
        "article_id": ids,
        "source": [f"{i}.txt" for i in ids],
        "body": [f"Tokyo and Washington ({run_id}) {i}" for i in ids],
        "partition_date": [day] * len(ids),
        "run_id": [run_id] * len(ids),
    })
    mentions = pl.DataFrame({
        "article_id": [i for i in ids for _ in range(MENTIONS_PER_ARTICLE)],
        "entity_id": [e for _ in ids for e in ("Q17", "Q30")],
        "surface": [s for _ in ids for s in ("Tokyo", "Washington")],
        "start_char": [s for _ in ids for s in (0, 10)],
        "end_char": [s for _ in ids for s in (5, 20)],
        "partition_date": [day] * (len(ids) * MENTIONS_PER_ARTICLE),
        "run_id": [run_id] * (len(ids) * MENTIONS_PER_ARTICLE),
    })
    return articles, mentions


def _replace_chunk(cur: duckdb.DuckDBPyConnection, ids: list[str], day: dt.date, run_id: str) -> None:
    articles, mentions = _frames(ids, day, run_id)
    replace_rows(cur, "articles", articles, key="article_id", keys=ids, days=[day])
    replace_rows(cur, "mentions", mentions, key="article_id", keys=ids, days=[day])


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


# ---------------------------------------------------------------------- child processes (spawn)
def _writer(root: str, catalog: str, name: str, chunks: int, ready, results) -> None:
    import flows.warehouse.store

    handler = _Collect()
    logging.getLogger("flows.warehouse.store").addHandler(handler)
    logging.getLogger("flows.warehouse.store").setLevel(logging.WARNING)
    # The retry log shows an error's first line only; keep the whole text of each retried error.
    errors: list[str] = []
    predicate = flows.warehouse.store.is_retryable

    def recording(exc: BaseException) -> bool:
        retry = predicate(exc)
        if retry:
            errors.append(str(exc))
        return retry

    flows.warehouse.store.is_retryable = recording
    try:
        wh = _warehouse(root, catalog)
        wh.cursor().close()  # attach the lake before the race starts
        ready.wait(60)
        for chunk in range(chunks):
            ids = [f"{name}-{chunk:02d}-{j}" for j in range(PER_CHUNK)]
            run_id = f"{name}-{chunk:02d}"

            day = D1 if chunk % 2 else D2

            def work(cur, ids=ids, day=day, run_id=run_id):
                _replace_chunk(cur, ids, day, run_id)
                _replace_chunk(cur, SHARED, D1, run_id)  # delete-and-reinsert the ids the other writer replaces too

            wh.commit(work, what=f"writer {name} chunk {chunk}")
        wh.close()
        results.put({"writer": name, "retries": handler.messages, "errors": errors, "error": None})
    except BaseException:
        results.put({"writer": name, "retries": handler.messages, "errors": errors, "error": traceback.format_exc()})


def _reader(root: str, catalog: str, ready, stop, results) -> None:
    seen = {"checks": 0, "orphans": [], "doubled": [], "max_articles": 0, "error": None}
    try:
        wh = _warehouse(root, catalog)
        cur = wh.cursor()
        ready.wait(60)
        while not stop.is_set() or seen["checks"] == 0:
            orphans = cur.execute(ORPHANS).fetchone()[0]
            doubled = cur.execute(DOUBLED).fetchone()[0]
            articles = cur.execute("select count(*) from articles").fetchone()[0]
            seen["checks"] += 1
            if orphans:
                seen["orphans"].append(orphans)
            if doubled:
                seen["doubled"].append(doubled)
            seen["max_articles"] = max(seen["max_articles"], articles)
        cur.close()
        wh.close()
    except BaseException:
        seen["error"] = traceback.format_exc()
    results.put({"reader": seen})


# ---------------------------------------------------------------------- tests
def test_ensure_catalog_creates_the_tables_in_postgresql(pg_catalog, postgres_server, tmp_path):
    wh = _warehouse(tmp_path, pg_catalog)
    assert wh.location.kind == "postgres"
    assert wh.ensure_catalog()
    assert wh.query("select count(*) as n from articles")["n"][0] == 0
    tables = dict(wh.cursor().execute(
        "select table_name, comment from duckdb_tables() where database_name = 'lake'").fetchall())
    for name, contract in load_contract().items():
        assert tables.get(name) == contract.comment, name
    assert tables["fpwatch_catalog"]
    columns = wh.cursor().execute(
        "select table_name, column_name, comment from duckdb_columns() where database_name = 'lake'").fetchall()
    comments = {(t, c): m for t, c, m in columns}
    for name, contract in load_contract().items():
        for column, comment in contract.column_comments.items():
            assert comments[(name, column)] == comment, (name, column)
    wh.close()

    # The catalog is in PostgreSQL (not a local file), and a second client finds it complete.
    out = postgres_server.run("psql", "-d", _dbname(pg_catalog), "-Atc", "select count(*) from ducklake_table")
    assert int(out.stdout.strip()) >= len(load_contract())
    assert not (tmp_path / "catalog.sqlite").exists()
    other = _warehouse(tmp_path, pg_catalog)
    assert other.ensure_catalog() is False
    other.close()


def test_a_conflicting_replace_is_retried_and_leaves_each_id_once(pg_catalog, tmp_path, caplog, monkeypatch):
    """Deterministic conflict: another client replaces the same ids while our transaction is open."""
    import flows.warehouse.store

    first, second = _warehouse(tmp_path, pg_catalog), _warehouse(tmp_path, pg_catalog)
    first.ensure_catalog()
    first.commit(lambda cur: _replace_chunk(cur, SHARED, D1, "seed"))
    attempts, errors = [], []
    predicate = flows.warehouse.store.is_retryable
    monkeypatch.setattr(flows.warehouse.store, "is_retryable", lambda exc: errors.append(str(exc)) or predicate(exc))

    def work(cur):
        attempts.append(len(attempts) + 1)
        _replace_chunk(cur, SHARED, D1, f"first-{len(attempts)}")
        if len(attempts) == 1:  # the other writer commits the same keys first
            second.commit(lambda other: _replace_chunk(other, SHARED, D1, "second"))

    with caplog.at_level(logging.WARNING, logger="flows.warehouse.store"):
        first.commit(work, what="replace shared ids")
    assert attempts == [1, 2]
    assert len(errors) == 1 and "Transaction conflict" in errors[0], errors
    retried = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retried) == 1 and retried[0].startswith("replace shared ids: "), retried
    articles = first.read("articles")
    assert sorted(articles["article_id"].to_list()) == sorted(SHARED)
    assert set(articles["run_id"]) == {"first-2"}
    mentions = first.read("mentions")
    assert mentions.height == len(SHARED) * MENTIONS_PER_ARTICLE and set(mentions["run_id"]) == {"first-2"}
    first.close()
    second.close()


@pytest.mark.timeout(180)
def test_two_writer_processes_and_a_reader_on_one_catalog(pg_catalog, tmp_path):
    wh = _warehouse(tmp_path, pg_catalog)
    wh.ensure_catalog()
    wh.commit(lambda cur: _replace_chunk(cur, SHARED, D1, "seed"))  # so every replace deletes real rows
    wh.close()

    ctx = mp.get_context("spawn")
    ready, stop, results = ctx.Barrier(len(WRITERS) + 1), ctx.Event(), ctx.Queue()
    reader = ctx.Process(target=_reader, args=(str(tmp_path), pg_catalog, ready, stop, results))
    writers = [ctx.Process(target=_writer, args=(str(tmp_path), pg_catalog, w, CHUNKS, ready, results))
               for w in WRITERS]
    started = time.monotonic()
    for p in [reader, *writers]:
        p.start()
    reports = {}
    try:
        while len(reports) < len(WRITERS):
            report = results.get(timeout=150)
            reports[report.get("writer", "reader")] = report
        stop.set()
        report = results.get(timeout=60)
        reports[report.get("writer", "reader")] = report
    except queue_module.Empty:
        pytest.fail(f"processes did not report within the time limit: {reports}")
    finally:
        stop.set()
        for p in [reader, *writers]:
            p.join(30)
            if p.is_alive():
                p.kill()
    elapsed = time.monotonic() - started

    for w in WRITERS:
        assert reports[w]["error"] is None, reports[w]["error"]
    seen = reports["reader"]["reader"]
    assert seen["error"] is None, seen["error"]
    retries = [m for w in WRITERS for m in reports[w]["retries"]]
    errors = [e for w in WRITERS for e in reports[w]["errors"]]
    # Conflicts may be retried (with SHARED replaced on every chunk they usually are): each retry
    # was logged, was a DuckLake transaction conflict, and every commit got through in the end.
    assert len(retries) == len(errors)
    assert all("retrying" in m for m in retries), retries
    assert all("Transaction conflict" in e for e in errors), errors
    print(f"\n{len(errors)} retried conflicts in {elapsed:.1f} s, reader checks: {seen['checks']}")
    for e in sorted(set(re.sub(r'index "\d+"', 'index "N"', e) for e in errors)):
        print("  conflict:", e.replace("\n", " | "))

    # The reader ran during the writes and never saw an article without its mentions, nor one twice.
    assert seen["checks"] >= 5
    assert seen["max_articles"] > len(SHARED)
    assert seen["orphans"] == [] and seen["doubled"] == []

    wh = _warehouse(tmp_path, pg_catalog)
    articles = wh.read("articles")
    mentions = wh.read("mentions")
    wh.close()
    expected = [f"{w}-{c:02d}-{j}" for w in WRITERS for c in range(CHUNKS) for j in range(PER_CHUNK)] + SHARED
    counts = articles.group_by("article_id").len()
    assert counts.height == len(expected) and set(counts["article_id"]) == set(expected)
    assert counts["len"].max() == 1, counts.filter(pl.col("len") > 1)
    per_article = mentions.group_by("article_id").agg(pl.len().alias("n"), pl.col("run_id").unique().alias("runs"))
    assert set(per_article["article_id"]) == set(expected)
    assert per_article["n"].to_list() == [MENTIONS_PER_ARTICLE] * len(expected)
    # Each article's mentions come from the same commit as the article (shared ids: the last writer).
    joined = articles.select("article_id", "run_id").join(per_article, on="article_id")
    assert all(runs.to_list() == [run] for run, runs in zip(joined["run_id"], joined["runs"]))
    assert mentions.height == len(expected) * MENTIONS_PER_ARTICLE
    last = articles.filter(pl.col("article_id").is_in(SHARED))["run_id"].unique().to_list()
    assert len(last) == 1 and last[0] in {f"{w}-{CHUNKS - 1:02d}" for w in WRITERS}
