"""The warehouse on a real DuckLake catalog (SQLite, in tmp_path): contract, commits, readers, analysts."""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from flows.warehouse.store import Warehouse, conform, connect_readonly, load_contract, replace_rows

D1, D2 = dt.date(2024, 3, 1), dt.date(2024, 3, 2)
FPWATCH = Path(sys.executable).parent / "fpwatch"


def _articles(ids, day, body="text"):
    return pl.DataFrame(
        {"article_id": ids, "source": [f"{i}.txt" for i in ids], "body": [f"{body} {i}" for i in ids],
         "partition_date": [day] * len(ids)}
    )


def _mentions(ids, day):
    return pl.DataFrame(
        {"article_id": [i for i in ids for _ in range(2)], "entity_id": ["jp", "us"] * len(ids),
         "surface": ["Japan", "US"] * len(ids), "start_char": [0, 6] * len(ids), "end_char": [5, 8] * len(ids),
         "partition_date": [day] * (2 * len(ids))}
    )


@pytest.fixture
def wh(tmp_path) -> Warehouse:
    store = Warehouse(tmp_path / "wh")
    store.ensure_catalog()
    return store


def test_contract_has_the_required_tables_and_columns():
    contract = load_contract()
    required = {
        "articles": {"article_id", "source", "publisher", "wire", "title", "published_date", "partition_date", "body",
                     "language", "word_count", "content_hash", "duplicate_of", "story_id", "ingested_at"},
        "entities": {"entity_id", "canonical_name", "entity_type", "wikidata_id", "country_code"},
        "mentions": {"article_id", "entity_id", "surface", "start_char", "end_char", "role", "gpe_role"},
        "article_topics": {"article_id", "topic", "score", "evidence"},
        "stories": {"story_id", "title", "first_published", "article_count", "publisher_count"},
        "runs": {"run_id", "flow", "parameters", "started_at", "finished_at", "status"},
        "rejects": {"source", "reason", "detail", "run_id", "rejected_at"},
    }
    for table, columns in required.items():
        assert columns <= set(contract[table].schema), table
        assert {"run_id", "pipeline_version"} <= set(contract[table].schema), table
    for table in contract.values():
        assert table.comment, table.name
        assert all(table.column_comments.values()), f"{table.name}: column without a comment"


def test_conform_casts_and_fills_missing_columns():
    frame = conform(pl.DataFrame({"article_id": ["a"], "word_count": ["12"], "partition_date": [D1]}), "articles")
    assert frame.columns == list(load_contract()["articles"].schema)
    assert frame["word_count"].dtype == pl.Int32 and frame["word_count"][0] == 12
    assert frame["title"][0] is None
    assert conform(pl.DataFrame(), "articles").height == 0


def test_catalog_documents_every_table_column_and_view(wh):
    con = connect_readonly(wh.root)
    tables = dict(con.sql("select table_name, comment from duckdb_tables() where database_name = 'lake'").fetchall())
    for name, contract in load_contract().items():
        assert tables[name] == contract.comment, name
        cols = dict(con.execute("select column_name, comment from duckdb_columns() where database_name = 'lake' "
                                "and table_name = $t", {"t": name}).fetchall())
        assert cols == contract.column_comments, name
    views = dict(con.sql("select view_name, comment from duckdb_views() where database_name = 'lake'").fetchall())
    for path in (Path(__file__).resolve().parents[2] / "sql" / "views").glob("*.sql"):
        assert path.stem in views, path.stem
        assert views[path.stem] and "Columns:" in views[path.stem], path.stem
    assert wh.ensure_catalog() is False  # nothing left to do: no new snapshot on every run


def test_upsert_replaces_rows_and_moves_them_between_partitions(wh):
    wh.upsert("articles", _articles(["a", "b"], D1))
    wh.upsert("articles", _articles(["b", "c"], D1, body="new"))
    got = wh.read("articles").sort("article_id")
    assert got["article_id"].to_list() == ["a", "b", "c"]
    assert got["body"].to_list() == ["text a", "new b", "new c"]
    wh.upsert("articles", _articles(["b"], D2))  # b moves to D2: it leaves D1
    got = wh.read("articles")
    assert got.height == 3
    assert got.filter(pl.col("article_id") == "b")["partition_date"].to_list() == [D2]


def test_a_failed_transaction_leaves_nothing(wh):
    wh.upsert("articles", _articles(["a"], D1))

    def work(cur):
        replace_rows(cur, "articles", _articles(["b", "c"], D1), key="article_id", keys=["b", "c"])
        replace_rows(cur, "mentions", _mentions(["b", "c"], D1), key="article_id", keys=["b", "c"])
        raise OSError("No space left on device")

    before = wh.snapshot_id()
    with pytest.raises(OSError):
        wh.commit(work)
    assert wh.read("articles")["article_id"].to_list() == ["a"]
    assert wh.read("mentions").height == 0
    assert wh.snapshot_id() == before


def test_time_travel_reads_an_earlier_snapshot(wh):
    wh.upsert("articles", _articles(["a", "b"], D1))
    first = wh.snapshot_id()
    wh.upsert("articles", _articles(["c"], D2))
    assert wh.query("select count(*) as n from articles")["n"][0] == 3
    assert wh.query(f"select count(*) as n from articles at (version => {first})")["n"][0] == 2


def _writer(root: str, prefix: str, chunks: int, shared: bool) -> None:
    store = Warehouse(root)
    for i in range(chunks):
        ids = [f"{prefix}{i}-{k}" for k in range(3)] + (["shared-1", "shared-2"] if shared else [])

        def work(cur, ids=ids):
            replace_rows(cur, "articles", _articles(ids, D1 if i % 2 else D2, body=prefix), key="article_id", keys=ids)
            replace_rows(cur, "mentions", _mentions(ids, D1 if i % 2 else D2), key="article_id", keys=ids)

        store.commit(work, what=f"{prefix} chunk {i}")


def _orphans(con) -> tuple[int, int, int]:
    return con.sql(
        """
        select
            (select count(*) from articles a where not exists (select 1 from mentions m where m.article_id = a.article_id)),
            (select count(*) from mentions m where not exists (select 1 from articles a where a.article_id = m.article_id)),
            (select count(*) - count(distinct article_id) from articles)
        """
    ).fetchone()


def test_concurrent_writers_lose_nothing_double_nothing_and_readers_see_whole_commits(wh):
    """Two writer processes on one SQLite catalog (they take turns through retries) and a reader loop."""
    ctx = mp.get_context("spawn")
    writers = [ctx.Process(target=_writer, args=(str(wh.root), p, 12, True)) for p in ("x", "y")]
    for w in writers:
        w.start()
    reader = connect_readonly(wh.root)
    seen = 0
    while any(w.is_alive() for w in writers):
        assert _orphans(reader) == (0, 0, 0)
        seen += 1
    for w in writers:
        w.join(timeout=120)
        assert w.exitcode == 0
    got = wh.read("articles")
    assert got.height == 2 * 12 * 3 + 2  # every chunk's own ids, and the two shared ids once
    assert got["article_id"].n_unique() == got.height
    assert _orphans(reader) == (0, 0, 0)
    assert wh.read("mentions").height == 2 * got.height
    assert seen > 0


def test_analyst_sessions_are_read_only_and_cannot_touch_files(wh, tmp_path):
    wh.upsert("articles", _articles(["a"], D1))
    con = connect_readonly(wh.root)
    assert con.sql("select count(*) from articles").fetchone()[0] == 1
    for statement in (
        "insert into articles (article_id, source, body, partition_date) values ('x', 'x', 'x', date '2024-01-01')",
        "select * from read_text('/etc/passwd')",
        f"copy (select 1 as a) to '{tmp_path / 'out.csv'}'",
        f"attach '{tmp_path / 'other.duckdb'}' as other",
        "set enable_external_access = true",
    ):
        with pytest.raises(duckdb.Error):
            con.execute(statement)
    assert not (tmp_path / "out.csv").exists()


def test_fpwatch_sql_refuses_writes_and_outside_files(wh, tmp_path):
    wh.upsert("articles", _articles(["a", "b"], D1))
    target = wh.lake_dir / "articles.parquet"
    env = {"FPWATCH_WAREHOUSE": str(wh.root), "PATH": str(FPWATCH.parent)}
    attempts = {
        f"copy (select * from articles where false) to '{target}' (format parquet)": "read-only",
        "select * from read_text('/etc/passwd')": "disabled by configuration",
        f"copy (select 1) to '{tmp_path / 'x.csv'}'": "read-only",
        "attach 'other.db' as o": "read-only",
    }
    for query, message in attempts.items():
        out = subprocess.run([str(FPWATCH), "sql", query], capture_output=True, text=True, env=env, timeout=60)
        assert out.returncode != 0, query
        assert message in " ".join(out.stderr.split()), (query, out.stderr)
        assert "Traceback" not in out.stderr
    assert not target.exists() and not (tmp_path / "x.csv").exists()
    ok = subprocess.run([str(FPWATCH), "sql", "select count(*) as n from articles", "-f", "csv"],
                        capture_output=True, text=True, env=env, timeout=60)
    assert ok.returncode == 0 and ok.stdout.split() == ["n", "2"], ok.stderr


def test_a_corrupt_data_file_is_reported_by_name(wh):
    big = _articles([f"a{i}" for i in range(2000)], D1, body="word " * 50)
    wh.upsert("articles", big)
    files = wh.query("select data_file from ducklake_list_files('lake', 'articles')")["data_file"].to_list()
    assert files
    path = Path(files[0])
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    con = connect_readonly(wh.root)
    with pytest.raises(duckdb.Error) as err:
        con.sql("select count(*), max(length(body)) from articles").fetchall()
    assert path.name in str(err.value)


def test_compact_merges_files_and_expires_snapshots(wh):
    from flows.warehouse.maintenance import compact_warehouse, lake_stats

    for i in range(12):
        wh.upsert("articles", _articles([f"a{i}-{k}" for k in range(200)], D1 if i % 2 else D2))
    def article_files() -> int:
        return wh.query("select count(*) as n from ducklake_list_files('lake', 'articles')")["n"][0]

    before, files_before = lake_stats(wh), article_files()
    stats = compact_warehouse(wh, keep_days=0)
    after = lake_stats(wh)
    assert files_before == 12
    assert article_files() == 1  # one file per partition (both days are in one month)
    assert after["snapshots"] < before["snapshots"]
    assert stats["data_files_after"] == after["data_files"]
    assert wh.read("articles").height == 12 * 200


def test_migrate_converts_the_old_parquet_layout_row_for_row(tmp_path):
    from flows.warehouse.migrate import LEGACY_PREFIX, PENDING, migrate_warehouse

    root = tmp_path / "old"
    lake = root / "lake"
    articles = conform(_articles(["a", "b"], D1).with_columns(title=pl.lit("t"), run_id=pl.lit("r1")), "articles")
    moved = conform(_articles(["c"], D2), "articles")
    mentions = conform(_mentions(["a", "b", "c"], D1), "mentions").drop("method")  # a column the old files lack
    runs = conform(pl.DataFrame({"run_id": ["r1"], "flow": ["run"], "status": ["completed"],
                                 "started_at": [dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)],
                                 "partitions": [[D1, D2]]}), "runs")
    mentions = mentions.with_columns(sentence_index=pl.lit(0, pl.Int32))
    entities = conform(pl.DataFrame({"entity_id": ["jp", "us"], "canonical_name": ["Japan", "United States"],
                                     "entity_type": ["GPE", "GPE"], "kind": ["country", "country"],
                                     "country_code": ["JPN", "USA"]}), "entities")
    layout = {
        lake / "articles" / "_schema.parquet": articles.clear(),
        lake / "articles" / "partition_date=2024-03-01" / "data.parquet": articles,
        lake / "articles" / "partition_date=2024-03-02" / "data.parquet": moved,
        lake / "mentions" / "partition_date=2024-03-01" / "data.parquet": mentions,
        lake / "runs" / "r1.parquet": runs,
        lake / "entities" / "data.parquet": entities,
    }
    for path, frame in layout.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(path)
    duckdb.connect(str(root / "warehouse.duckdb")).close()

    store = Warehouse(root)
    report = migrate_warehouse(store)
    assert any("articles: 3 rows copied" in line for line in report), report
    got = store.read("articles").sort("article_id")
    assert got.select(articles.columns).equals(pl.concat([articles, moved]).sort("article_id"))
    assert store.read("mentions").height == 6 and store.read("mentions")["method"].null_count() == 6
    assert store.read("runs")["partitions"].to_list() == [[D1, D2]]
    assert sorted(store.read("entities")["canonical_name"].to_list()) == ["Japan", "United States"]
    # tables the old layout lacked are derived from the copied rows (a, b on 03-01; c's article moved)
    pairs = store.query("select article_id, country_a, country_b_name from country_pairs order by 1")
    assert pairs.rows() == [("a", "JPN", "United States"), ("b", "JPN", "United States")]
    legacy = list(root.glob(f"{LEGACY_PREFIX}*"))
    assert len(legacy) == 1 and not (legacy[0] / PENDING).exists()
    assert (legacy[0] / "warehouse.duckdb").exists() and not (root / "warehouse.duckdb").exists()
    assert not (lake / "articles").exists()
    assert migrate_warehouse(store)[0].startswith("catalog up to date")  # a second migrate is a no-op
    assert store.read("articles").height == 3


def test_writers_cap_duckdb_memory_and_spill_under_the_warehouse(wh, monkeypatch):
    """A writing process holds DuckDB to FPWATCH_MEMORY_LIMIT and spills to <warehouse>/tmp, not 80% of RAM."""
    from flows.warehouse.lake import LakeError

    cur = wh.cursor()
    limit, spill = cur.execute("select current_setting('memory_limit'), current_setting('temp_directory')").fetchone()
    assert limit.endswith("GiB") and float(limit.split()[0]) < 4.0 and spill == str(wh.root / "tmp")
    monkeypatch.setenv("FPWATCH_MEMORY_LIMIT", "512MB")
    other = Warehouse(wh.root)
    assert other.cursor().execute("select current_setting('memory_limit')").fetchone()[0] == "488.2 MiB"
    monkeypatch.setenv("FPWATCH_MEMORY_LIMIT", "lots")
    with pytest.raises(LakeError, match="FPWATCH_MEMORY_LIMIT='lots'"):
        Warehouse(wh.root).cursor()
