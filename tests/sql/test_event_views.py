"""The event views and queries on the seed warehouse (a real DuckLake catalog written by the run flow)."""

from __future__ import annotations

from pathlib import Path

QUERIES = Path(__file__).resolve().parents[2] / "sql" / "queries"


def test_events_are_written_with_their_articles(seed_db):
    orphans = seed_db.sql("select count(*) from events e anti join articles a using (article_id, partition_date)").fetchone()[0]
    assert orphans == 0
    n, articles = seed_db.sql("select count(*), count(distinct article_id) from events").fetchone()
    assert n >= 20 and articles == 5
    bad = seed_db.sql(
        "select count(*) from events e join articles a using (article_id) "
        "where substr(a.body, e.trigger_start + 1, e.trigger_end - e.trigger_start) <> e.trigger"
    ).fetchone()[0]
    assert bad == 0


def test_articles_carry_tone(seed_db):
    rows = seed_db.sql("select tone, tone_positive, tone_negative, tone_polarity from articles").fetchall()
    assert len(rows) == 5
    for tone, pos, neg, polarity in rows:
        assert pos > 0 and neg > 0 and abs(tone - (pos - neg)) < 0.01 and abs(polarity - (pos + neg)) < 0.01


def test_dyads_by_day_are_directed_and_count_only_events_that_happened(seed_db):
    dyads = seed_db.sql("select * from dyads_by_day").pl()
    pairs = set(zip(dyads["actor_country"], dyads["target_country"]))
    assert {("USA", "JPN"), ("JPN", "USA"), ("JPN", "CHN"), ("USA", "CHN")} <= pairs
    china = dyads.filter((dyads["target_country"] == "CHN"))
    assert (china["verbal_conflict"] > 0).all() and (china["mean_intensity"] < 0).all()
    total = seed_db.sql(
        "select count(*) from events e join articles a using (article_id) where not e.negated "
        "and e.modality in ('asserted', 'reported') and a.duplicate_of is null "
        "and e.actor_country is not null and e.target_country is not null"
    ).fetchone()[0]
    assert dyads["events"].sum() == total
    quads = dyads.select(["verbal_cooperation", "material_cooperation", "verbal_conflict", "material_conflict"]).sum_horizontal()
    assert (quads == dyads["events"]).all()
    assert seed_db.sql("select count(*) from dyads_by_day where list_sum(map_values(type_counts)) <> events").fetchone()[0] == 0
    assert seed_db.sql("select type_counts['ACCUSE'] from dyads_by_day where target_country = 'CHN'").fetchall()


def test_actor_events_and_event_evidence(seed_db):
    blinken = seed_db.sql("select sum(as_actor), sum(as_target) from actor_events where canonical_name = 'Antony Blinken'").fetchone()
    assert blinken[0] > 0 and blinken[1] > 0
    ev = seed_db.sql("select * from event_evidence").pl()
    assert ev.height == seed_db.sql("select count(*) from events").fetchone()[0]
    assert ev["title"].null_count() < ev.height and ev["actor_name"].null_count() == 0
    assert all(t in e for t, e in zip(ev["trigger"], ev["evidence"]))


def test_example_queries(seed_db):
    sql = (QUERIES / "who_did_what_to.sql").read_text()
    rows = seed_db.execute(sql, {"country": "CHN", "until": "2021-12-12"}).pl()
    assert set(rows["actor_country"]) == {"JPN", "USA"} and set(rows["quad"]) == {"verbal_conflict"}
    sql = (QUERIES / "conflict_trend.sql").read_text()
    rows = seed_db.execute(sql, {"a": "USA", "b": "CHN"}).pl()
    assert rows.height and (rows["direction"] == "USA -> CHN").any() and (rows["conflict_share"] == 1.0).all()
