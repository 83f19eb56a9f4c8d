"""The warehouse layer on real files: upserts per partition, atomic files, locks, the view catalogue."""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp

import duckdb
import polars as pl
import pytest

from flows.warehouse import Warehouse, WarehouseLocked, conform, load_contract

D1, D2 = dt.date(2024, 3, 1), dt.date(2024, 3, 2)


def _articles(ids, day, body="text"):
    return pl.DataFrame(
        {"article_id": ids, "source": [f"{i}.txt" for i in ids], "body": [f"{body} {i}" for i in ids],
         "partition_date": [day] * len(ids)}
    )


def test_contract_has_the_required_tables_and_columns():
    contract = load_contract()
    required = {
        "articles": {"article_id", "source", "publisher", "wire", "title", "published_date", "partition_date", "body",
                     "language", "word_count", "content_hash", "duplicate_of", "story_id", "ingested_at"},
        "entities": {"entity_id", "canonical_name", "entity_type", "wikidata_id", "country_code"},
        "mentions": {"article_id", "entity_id", "surface", "start_char", "end_char", "role"},
        "article_topics": {"article_id", "topic", "score", "evidence"},
        "stories": {"story_id", "title", "first_published", "article_count", "publisher_count"},
        "runs": {"run_id", "flow", "parameters", "started_at", "finished_at", "status"},
        "rejects": {"source", "reason", "detail", "run_id", "rejected_at"},
    }
    for table, columns in required.items():
        assert columns <= set(contract[table].schema), table
        assert {"run_id", "pipeline_version"} <= set(contract[table].schema), table
        assert contract[table].comment
        assert all(contract[table].column_comments.values()), f"{table}: column without a comment"


def test_conform_casts_and_fills_missing_columns():
    frame = conform(pl.DataFrame({"article_id": ["a"], "word_count": ["12"], "partition_date": [D1]}), "articles")
    assert frame.columns == list(load_contract()["articles"].schema)
    assert frame["word_count"].dtype == pl.Int32 and frame["word_count"][0] == 12
    assert frame["title"][0] is None
    assert conform(pl.DataFrame(), "articles").height == 0


def test_replace_rows_upserts_within_a_partition_and_moves_between_partitions(tmp_path):
    wh = Warehouse(tmp_path)
    wh.ensure_catalog()
    wh.replace_rows("articles", _articles(["a", "b"], D1))
    wh.replace_rows("articles", _articles(["b", "c"], D1, body="new"))
    got = wh.read("articles").sort("article_id")
    assert got["article_id"].to_list() == ["a", "b", "c"]
    assert got["body"].to_list() == ["text a", "new b", "new c"]
    # b moves to D2: it must leave D1
    wh.replace_rows("articles", _articles(["b"], D2), remove={D1: {"b"}})
    got = wh.read("articles")
    assert got.height == 3
    assert got.filter(pl.col("article_id") == "b")["partition_date"].to_list() == [D2]
    assert sorted(p.parent.name for p in (tmp_path / "lake" / "articles").glob("*/data.parquet")) == [
        "partition_date=2024-03-01", "partition_date=2024-03-02"]


def test_rows_without_partition_are_refused(tmp_path):
    wh = Warehouse(tmp_path)
    with pytest.raises(ValueError, match="partition_date"):
        wh.replace_rows("articles", _articles(["a"], None))


def _writer(root, prefix, n):
    wh = Warehouse(root)
    for i in range(n):
        wh.replace_rows("articles", _articles([f"{prefix}{i}"], D1))


def test_concurrent_writers_of_one_partition_lose_nothing(tmp_path):
    Warehouse(tmp_path).ensure_catalog()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), p, 15)) for p in "xy"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    ids = Warehouse(tmp_path).read("articles")["article_id"].to_list()
    assert sorted(ids) == sorted([f"{p}{i}" for p in "xy" for i in range(15)])


def test_views_read_the_lake_and_carry_comments(tmp_path):
    wh = Warehouse(tmp_path / "wh")
    assert wh.ensure_catalog()
    con = duckdb.connect(str(wh.db_path), read_only=True)
    assert con.sql("select count(*) from articles").fetchall()[0][0] == 0  # empty table, not an error
    con.close()
    wh.replace_rows("articles", _articles(["a", "b"], D1))
    con = duckdb.connect(str(wh.db_path), read_only=True)
    assert con.sql("select count(*) from articles where partition_date = $d", params={"d": D1}).fetchall()[0][0] == 2
    missing = con.sql(
        "select table_name, column_name from duckdb_columns() where comment is null and not internal "
        "and table_name not like 'fpwatch_%'"
    ).fetchall()
    assert missing == []
    con.close()


def test_catalog_rebuild_waits_for_an_analyst_and_says_so(tmp_path):
    import subprocess
    import sys

    wh = Warehouse(tmp_path / "wh")
    wh.ensure_catalog()
    (tmp_path / "wh" / "catalog.json").write_text("{}")  # force a rebuild
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb,sys; c=duckdb.connect({str(wh.db_path)!r}, read_only=True); "
         "print('open', flush=True); sys.stdin.readline()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(WarehouseLocked, match="fpwatch migrate"):
            wh.ensure_catalog(strict=True)
        assert wh.ensure_catalog() is False  # non-strict: warn and carry on
    finally:
        holder.communicate("\n", timeout=30)
    assert wh.ensure_catalog() is True
