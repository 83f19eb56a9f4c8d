"""End-to-end: the `run` flow on the seeds and on bad inputs, into real warehouses in temp dirs."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
import textwrap

import duckdb
import polars as pl

from flows.warehouse.store import Warehouse, connect_readonly
from tests.conftest import SEEDS

SEED_IDS = {p.name[:3]: p.name for p in sorted(SEEDS.iterdir())}


def _articles(con) -> dict[str, dict]:
    rows = con.sql("select * from articles").pl().to_dicts()
    return {r["source"][:3]: r for r in rows}


def test_seed_run_writes_five_articles_and_no_rejects(seed_run, seed_db):
    summary, _ = seed_run
    assert summary["status"] == "completed"
    assert summary["articles_written"] == 5
    assert seed_db.sql("select count(*) from articles").fetchall()[0][0] == 5
    assert seed_db.sql("select count(*) from rejects").fetchall()[0][0] == 0
    assert seed_db.sql("select count(*) from runs where status = 'completed'").fetchall()[0][0] >= 1


def test_seed_dates_titles_publishers(seed_db):
    arts = _articles(seed_db)
    assert arts["000"]["published_date"] == dt.date(2021, 12, 12)
    assert arts["004"]["published_date"] == dt.date(2021, 12, 12)
    assert arts["002"]["title"] == "U.S.-Japan alliance needs stronger deterrence, top diplomats say"
    assert arts["003"]["title"] == "US, Japan agree to strengthen alliance amid security concerns in the Indo-Pacific"
    assert arts["003"]["title"] not in arts["003"]["body"]
    assert arts["002"]["publisher"] == "Nikkei Asia"
    assert arts["002"]["wire"] == "Reuters"
    assert arts["003"]["publisher"] == "IRIA"
    for art in arts.values():
        assert art["partition_date"] is not None
        assert art["partition_date"] == (art["published_date"] or art["partition_date"])
        assert art["language"] == "en"
        assert art["word_count"] > 200


GONE = [
    "ArrowArtboard", "Created with Sketch", "Title Chevron", "Sponsored Content", "Nikkei Asia app",
    "offline reading", "Celebrate our next chapter", "Free access for everyone", "Find out more",
    "Related Articles", "Leave a comment", "Copyright ©", "IRIA is a research institute", "Subscribe to IRIA News",
    "Enter your email address", "Back to Top", "No Comments on", "Image: Twitter/@SecBlinken", " date 2021-12-12",
    "pic.twitter.com",
]
KEPT = {
    "000": ["lifting the import restrictions on Japanese farm products imposed in the wake of the 2011 Fukushima "
            "nuclear disaster", "Tokyo serves as chair of the TPP's working group on London's accession."],
    "001": ["Tokyo chairs the CPTPP London membership working group."],
    "002": ["while Japan has yet to make its stance clear."],
    "003": ["to the extremely important concentration and coordination on a whole series of issues."],
    "004": ["We look forward to deepening our cooperation on COVID-19, the climate crisis",
            "Both sides also agreed to coordinate towards conducting a 2+2 meeting at the earliest."],
}


def test_seed_bodies_are_clean_and_complete(seed_db):
    arts = _articles(seed_db)
    for key, art in arts.items():
        for junk in GONE:
            assert junk not in art["body"], (key, junk)
        for sentence in KEPT[key]:
            assert sentence in art["body"], (key, sentence)
        assert "  " not in art["body"] and "\n\n\n" not in art["body"]


def test_warehouse_is_a_partitioned_ducklake(seed_run, tmp_path):
    from flows.warehouse.maintenance import compact_warehouse

    _, seed_root = seed_run
    root = tmp_path / "copy"
    shutil.copytree(seed_root, root)  # compaction below must not change the shared seed warehouse
    assert (root / "catalog.sqlite").exists()
    store = Warehouse(root)
    # Small commits are inlined in the catalog (DuckLake data inlining); compaction writes them out.
    compact_warehouse(store, keep_days=30)
    for table in ("articles", "raw_inputs", "mentions", "events", "article_topics", "article_signatures"):
        files = store.query(f"select data_file from ducklake_list_files('lake', '{table}')")["data_file"].to_list()
        assert files, table
        assert any("/year=2021/month=12/" in f for f in files), (table, files)
        assert all(f.startswith(str(root / "lake")) for f in files), files
    snapshots = store.query("select commit_extra_info from ducklake_snapshots('lake') where author = 'fpwatch'")
    assert any('"chunk": 1' in (e or "") for e in snapshots["commit_extra_info"].to_list())
    # mentions files are sorted by entity_id (one entity's rows skip the other row groups)
    for path in store.query("select data_file from ducklake_list_files('lake', 'mentions')")["data_file"]:
        ids = duckdb.connect().execute("select entity_id from read_parquet($p)", {"p": path}).pl()["entity_id"]
        assert ids.n_unique() > 5 and ids.to_list() == sorted(ids.to_list()), path


def test_raw_inputs_keep_the_file_text(seed_db):
    raw = seed_db.sql("select source, content from raw_inputs").pl()
    assert raw.height == 5
    for source, content in raw.iter_rows():
        assert content == (SEEDS / source).read_text(encoding="utf-8")


def _run_in_subprocess(paths, warehouse, extra_env=None):
    import os

    env = dict(os.environ, **(extra_env or {}))
    code = textwrap.dedent(
        f"""
        from flows.jobs.run import run_flow
        s = run_flow(paths={[str(p) for p in paths]!r}, warehouse={str(warehouse)!r})
        print("WRITTEN", s["articles_written"], "REJECTS", s["rejects"])
        """
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)


def test_rerun_is_idempotent(prefect_harness, tmp_path):
    from flows.jobs.run import run_flow

    inputs = tmp_path / "in"
    shutil.copytree(SEEDS, inputs)
    wh = tmp_path / "wh"
    run_flow(paths=[str(inputs)], warehouse=str(wh))
    store = Warehouse(wh)
    lineage = ["run_id", "ingested_at"]
    first = {t: store.read(t).drop(lineage, strict=False) for t in ("articles", "mentions", "events", "article_topics", "entities", "stories", "raw_inputs")}
    files_before = sorted(p.relative_to(wh) for p in (wh / "lake").rglob("*.parquet") if "runs" not in p.parts)
    run_flow(paths=[str(inputs)], warehouse=str(wh))
    for table, before in first.items():
        after = store.read(table).drop(lineage, strict=False)
        key = [c for c in ("article_id", "entity_id", "story_id", "start_char", "topic", "event_id") if c in after.columns]
        assert after.sort(key).equals(before.sort(key)), table
    files_after = sorted(p.relative_to(wh) for p in (wh / "lake").rglob("*.parquet") if "runs" not in p.parts)
    assert files_after == files_before
    assert store.read("runs").height == 2
    assert store.read("articles")["article_id"].n_unique() == 5


def test_batches_on_a_local_dask_cluster_give_the_same_rows(seed_run, tmp_path, monkeypatch):
    """Five seeds in batches of 2: three transform-batch tasks on a 2-process local Dask cluster
    (batches scattered to the workers, results gathered straight from them) write what one process wrote."""
    import flows.jobs.run as run_module
    from flows.settings import Settings

    monkeypatch.setattr(run_module, "get_settings", lambda: Settings(batch_size=2, transform_workers=2))
    inputs = tmp_path / "in"
    shutil.copytree(SEEDS, inputs)
    summary = run_module.run_flow(paths=[str(inputs)], warehouse=str(tmp_path / "wh"))
    assert summary["articles_written"] == 5
    lineage = ["run_id", "ingested_at", "first_seen_at"]
    mine, reference = Warehouse(tmp_path / "wh"), Warehouse(seed_run[1])
    for table in ("articles", "mentions", "article_topics", "entities", "stories"):
        a, b = (w.read(table).drop(lineage, strict=False) for w in (mine, reference))
        assert a.sort(a.columns).equals(b.sort(b.columns)), table


def test_bad_inputs_become_rejects_and_the_rest_goes_through(prefect_harness, tmp_path):
    from flows.jobs.run import run_flow

    inputs = tmp_path / "in"
    shutil.copytree(SEEDS, inputs)
    (inputs / "empty.txt").write_text("")
    (inputs / "blank.html").write_text("   \n\n  ")
    (inputs / "image.html").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    import random

    rnd = random.Random(7)
    (inputs / "garbled.txt").write_bytes(bytes(rnd.randrange(0x80, 0x100) for _ in range(4000)))
    (inputs / "huge.txt").write_bytes(b"word " * 2_000_001)
    (inputs / "dangling.txt").symlink_to(tmp_path / "does-not-exist.txt")
    (inputs / "nav.html").write_text("<html><body><nav><a href='/'>Home</a></nav></body></html>")
    (inputs / "latin1.txt").write_bytes(
        ("Ministers met in Genève on Monday to discuss the accord. " * 12 + "\n\nThe talks, held at the Palais des "
         "Nations, ended without a joint statement; officials said they would reconvene next month. " * 3).encode("latin-1")
    )
    summary = run_flow(paths=[str(inputs), str(tmp_path / "missing-folder")], warehouse=str(tmp_path / "wh"))
    assert summary["status"] == "completed"
    con = connect_readonly(tmp_path / "wh")
    reasons = dict(con.sql("select source, reason from rejects").fetchall())
    assert reasons["empty.txt"] == "empty"
    assert reasons["blank.html"] == "empty"
    assert reasons["image.html"] == "binary"
    assert reasons["garbled.txt"] == "undecodable"
    assert reasons["huge.txt"] == "too_large"
    assert reasons["dangling.txt"] == "unreadable"
    assert reasons[str(tmp_path / "missing-folder")] == "not_found"
    assert "nav.html" in reasons
    sources = {s for (s,) in con.sql("select source from articles").fetchall()}
    assert "latin1.txt" in sources and len(sources) == 6
    body = con.sql("select body from articles where source = 'latin1.txt'").fetchall()[0][0]
    assert "Genève" in body
    # nothing silently dropped: every input is an article or a reject
    assert len(sources) + len(reasons) == 5 + 8 + 1


def test_analyst_holding_the_lake_does_not_break_a_run(prefect_harness, tmp_path):
    from flows.jobs.run import run_flow

    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(SEEDS / SEED_IDS["000"], inputs)
    wh = tmp_path / "wh"
    run_flow(paths=[str(inputs)], warehouse=str(wh))
    analyst = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            from flows.warehouse.store import connect_readonly
            con = connect_readonly({str(wh)!r})
            print(con.sql("select count(*) from articles").fetchall()[0][0], flush=True)
            sys.stdin.readline()
            print(con.sql("select count(*) from articles").fetchall()[0][0], flush=True)
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert analyst.stdout.readline().strip() == "1"
        for name in SEED_IDS.values():
            shutil.copy(SEEDS / name, inputs)
        summary = run_flow(paths=[str(inputs)], warehouse=str(wh))
        assert summary["status"] == "completed" and summary["articles_written"] == 4 and summary["skipped"] == 1
        out, err = analyst.communicate("\n", timeout=60)
        assert out.strip() == "5", err  # the open session sees the new snapshot
        assert analyst.returncode == 0
    finally:
        analyst.kill()


def test_undated_article_keeps_its_first_partition_on_a_later_day(prefect_harness, tmp_path):
    from prefect import flow

    from flows.sources.files import discover_files, read_files
    from flows.pipeline.process import process_documents
    from flows.pipeline.runs import finish_run, start_run
    from flows.settings import Settings

    store = Warehouse(tmp_path / "wh")
    store.ensure_catalog()
    undated = SEEDS / SEED_IDS["001"]

    @flow
    def ingest_on(day: dt.date):
        run = start_run("test", {}, store)
        run.started_at = dt.datetime.combine(day, dt.time(12), tzinfo=dt.timezone.utc)
        files, _ = discover_files([undated])
        docs, _ = read_files(files, max_bytes=10**7, seen_at=run.started_at)
        process_documents([docs], settings=Settings(), run=run, force=True)  # force: transform it again
        finish_run(run, "completed")

    ingest_on(dt.date(2024, 1, 1))
    ingest_on(dt.date(2024, 1, 9))
    arts = store.read("articles")
    assert arts.height == 1
    assert arts["partition_date"].to_list() == [dt.date(2024, 1, 1)]
    assert arts["published_date"].to_list() == [None]


def test_a_person_found_by_ner_keeps_one_id_across_runs(prefect_harness, tmp_path):
    """"Anthony Merriweather" in one run, "Tony Merriweather" in a later one: one entity, the stored id."""
    from prefect import flow

    from flows.pipeline.process import process_documents
    from flows.pipeline.runs import finish_run, start_run
    from flows.settings import Settings
    from flows.sources.files import discover_files, read_files

    store = Warehouse(tmp_path / "wh")
    store.ensure_catalog()
    texts = {
        "first.txt": "Anthony Merriweather, the chief negotiator of the Freedonian delegation, met officials in "
                     "Geneva on Monday. Anthony Merriweather said the talks on the border would resume next week.",
        "second.txt": "Tony Merriweather told reporters in Vienna on Tuesday that the border talks had stalled. "
                      "Merriweather said his delegation would wait. Sarah Merriweather, his deputy, stayed home.",
    }

    @flow
    def ingest(name: str):
        path = tmp_path / name
        path.write_text(texts[name])
        run = start_run("test", {}, store)
        files, _ = discover_files([path])
        docs, _ = read_files(files, max_bytes=10**7, seen_at=run.started_at)
        process_documents([docs], settings=Settings(), run=run)
        finish_run(run, "completed")

    ingest("first.txt")
    first = store.query("select distinct entity_id from mentions where surface like '%Merriweather%'")
    assert first.height == 1, first
    ingest("second.txt")
    rows = store.query(
        "select m.surface, m.entity_id, e.canonical_name from mentions m join entities e using (entity_id) "
        "where m.surface like '%Merriweather%'"
    )
    anthony = rows.filter(~pl.col("surface").str.contains("Sarah"))
    assert set(anthony["entity_id"]) == set(first["entity_id"]), rows
    assert set(anthony["canonical_name"]) == {"Anthony Merriweather"}, rows
    assert anthony.height >= 4, rows  # two in each article, "Merriweather" alone included
    sarah = rows.filter(pl.col("surface").str.contains("Sarah"))
    assert sarah.height == 1 and sarah["entity_id"][0] not in set(first["entity_id"]), rows


def test_duckdb_cli_from_the_registry_opens_the_lake(seed_run):
    from flows.warehouse.lake import cli_init_script

    cli = shutil.which("duckdb", path=str(__import__("pathlib").Path(sys.executable).parent))
    assert cli, "duckdb-cli is a dependency: its shell must be installed beside python"
    init = seed_run[1].parent / "init.sql"
    init.write_text(cli_init_script(Warehouse(seed_run[1]).location))
    out = subprocess.run(
        [cli, "-init", str(init), "-csv", "-c", "select count(*) as n from articles"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["n", "5"]
    refused = subprocess.run(
        [cli, "-init", str(init), "-csv", "-c", "copy (select 1) to '/tmp/fpwatch-should-not-exist.csv'"],
        capture_output=True, text=True, timeout=60,
    )
    assert "disabled by configuration" in refused.stdout + refused.stderr


def test_country_pairs_derived_at_commit_equal_the_self_join_of_mentions(seed_db):
    """The pairs stored with each chunk are exactly the same-sentence country pairs of its mentions."""
    self_join = """
        with c as (
            select distinct m.article_id, m.partition_date, m.sentence_index, e.country_code, e.canonical_name
            from mentions as m join entities as e using (entity_id)
            where e.kind = 'country' and e.country_code is not null
        )
        select a.article_id, a.sentence_index, a.country_code as country_a, a.canonical_name as country_a_name,
               b.country_code as country_b, b.canonical_name as country_b_name
        from c as a join c as b on a.article_id = b.article_id and a.sentence_index = b.sentence_index
                                and a.country_code < b.country_code
    """
    cols = "article_id, sentence_index, country_a, country_a_name, country_b, country_b_name"
    expected = seed_db.execute(f"select {cols} from ({self_join}) order by all").fetchall()
    got = seed_db.execute(f"select {cols} from country_pairs order by all").fetchall()
    assert len(expected) > 20 and got == expected
    assert ("JPN", "USA") in {(r[2], r[4]) for r in got}
    dated = seed_db.execute("select count(*) from country_pairs as p join articles as a using (article_id) "
                            "where p.article_date = coalesce(a.published_date, a.partition_date)").fetchone()[0]
    assert dated == len(got)
