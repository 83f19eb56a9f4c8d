"""Stories: cross-source clusters, incremental joins, stable ids, and the quality gate."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

import polars as pl
import pytest
from story_fixtures import ARTICLES, D, gold_by_id, load_seeds

from transforms.stories import assign_stories, story_id_for, story_terms, summarize_stories

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
from stories import bcubed  # noqa: E402  (the bench's scorer, so test and bench agree)

# Quality gate: floors reached when they were pinned (lowering one is a visible, explained change).
# Hand-written fixtures: 6 events, two earthquakes and two summits as hard negatives.
FIXTURE_BCUBED_F1_FLOOR = 0.99
# ECB+ dev (496 documents, 42 stories, 21 topics x 2 events), one batch: measured 0.951 on
# 2026-11-22; plain TF-IDF cosine + complete linkage at its best threshold reaches 0.889.
ECB_BCUBED_F1_FLOOR = 0.945
# The same documents fed in 5 sequential batches (the incremental path, no dates to separate
# events, so the hardest case for it): measured 0.869.
ECB_INCREMENTAL_BCUBED_F1_FLOOR = 0.86
ECB_FILE = Path(os.environ.get("FPWATCH_EVAL_DIR", REPO.parent / "shared" / "eval")) / "stories" / "ecbplus_dev.jsonl"

SCHEMA = {"article_id": pl.String, "title": pl.String, "body": pl.String, "date": pl.Date,
          "publisher": pl.String, "duplicate_of": pl.String, "entity_ids": pl.List(pl.String),
          "story_id": pl.String}


def _frame(rows) -> pl.DataFrame:
    """rows: (article_id, title, body, date, publisher[, duplicate_of[, story_id]])."""
    out = []
    for r in rows:
        r = tuple(r) + (None,) * (7 - len(r))
        out.append({"article_id": r[0], "title": r[1], "body": r[2], "date": r[3], "publisher": r[4],
                    "duplicate_of": r[5], "entity_ids": [], "story_id": r[6]})
    return pl.DataFrame(out, schema=SCHEMA)


def _fixture_frame(ids=None) -> pl.DataFrame:
    return _frame([(a[0], a[4], a[5], D + dt.timedelta(days=a[3]), a[2]) for a in ARTICLES
                   if ids is None or a[0] in ids])


def _assigned(out: pl.DataFrame) -> dict[str, str]:
    return dict(zip(out["article_id"], out["story_id"]))


def _with_stories(frame: pl.DataFrame, assigned: dict[str, str]) -> pl.DataFrame:
    return frame.with_columns(pl.col("article_id").replace_strict(assigned).alias("story_id"))


def test_seeds_form_one_story_founded_by_the_earliest_article():
    seeds = load_seeds()
    day = dt.date(2021, 12, 12)
    frame = _frame([(s[0], None, s[1], s[2] or day, f"pub{k}", seeds[0][0] if k == 1 else None)
                    for k, s in enumerate(seeds)])
    out = assign_stories(frame, frame.clear())
    assert out["article_id"].to_list() == frame["article_id"].to_list()
    assert out["story_id"].unique().to_list() == [story_id_for(seeds[0][0])]


def test_fixture_events_quality_gate():
    out = _assigned(assign_stories(_fixture_frame(), _fixture_frame().clear()))
    gold = gold_by_id()
    ids = list(gold)
    _, _, f1 = bcubed([out[i] for i in ids], [gold[i] for i in ids])
    assert f1 >= FIXTURE_BCUBED_F1_FLOOR
    # same kind of event, different event: never one story
    assert out["quake-a1"] != out["quake-b1"]
    assert out["summit-a1"] != out["summit-b1"]


def test_result_does_not_depend_on_row_order():
    frame = _fixture_frame()
    a = _assigned(assign_stories(frame, frame.clear()))
    b = _assigned(assign_stories(frame.reverse(), frame.clear()))
    assert a == b


def test_new_articles_join_stored_stories_and_new_events_start_their_own():
    day0 = [a[0] for a in ARTICLES if a[3] == 0]
    first = _fixture_frame(day0)
    stored = _assigned(assign_stories(first, first.clear()))
    history = _with_stories(first, stored)
    later = _fixture_frame([a[0] for a in ARTICLES if a[3] > 0])
    out = _assigned(assign_stories(later, history, window_days=3))
    assert out["quake-a3"] == stored["quake-a1"]
    assert out["quake-b2"] == out["quake-b3"] == stored["quake-b1"]
    assert out["summit-b3"] == stored["summit-b1"]
    assert out["sanction-2"] == stored["sanction-1"]
    # the Rome G20 has no day-0 article: a new story founded by its earliest article
    assert out["summit-a1"] == out["summit-a2"] == out["summit-a3"] == story_id_for("summit-a1")
    assert out["summit-a1"] not in stored.values()


def test_rerun_keeps_previous_story_ids():
    frame = _fixture_frame()
    first = _assigned(assign_stories(frame, frame.clear()))
    rerun = _with_stories(frame, {k: ("kept-" + v if k.startswith("quake-b") else v) for k, v in first.items()})
    again = _assigned(assign_stories(rerun, frame.clear()))
    assert again["quake-b1"] == again["quake-b2"] == "kept-" + first["quake-b1"]
    assert {k: v for k, v in again.items() if not k.startswith("quake-b")} == {
        k: v for k, v in first.items() if not k.startswith("quake-b")}


def test_history_outside_the_window_is_not_joined():
    old = _fixture_frame(["quake-b1"]).with_columns(pl.lit(D - dt.timedelta(days=20)).alias("date"))
    history = _with_stories(old, {"quake-b1": "st_old"})
    new = _fixture_frame(["quake-b2"])
    assert _assigned(assign_stories(new, history, window_days=3))["quake-b2"] != "st_old"
    assert _assigned(assign_stories(new, history, window_days=30))["quake-b2"] == "st_old"


def test_duplicate_joins_the_story_of_its_original():
    history = _with_stories(_fixture_frame(["trade-1"]), {"trade-1": "st_trade"})
    new = _frame([("copy", "Short", "Unrelated wording entirely.", D, "x", "trade-1")])
    assert _assigned(assign_stories(new, history))["copy"] == "st_trade"


def test_two_stored_stories_never_merge():
    frame = _fixture_frame(["quake-a1", "quake-a2"])
    history = _with_stories(frame, {"quake-a1": "st_one", "quake-a2": "st_two"})
    new = _fixture_frame(["quake-a3"])
    out = _assigned(assign_stories(new, history))
    assert out["quake-a3"] in {"st_one", "st_two"}


def test_empty_batch_and_unknown_parameter():
    assert assign_stories(_frame([]), _frame([])).height == 0
    with pytest.raises(TypeError):
        assign_stories(_fixture_frame(), _frame([]), no_such_setting=1)


def test_summarize_stories():
    frame = _fixture_frame()
    out = assign_stories(frame, frame.clear())
    stories = summarize_stories(frame.drop("story_id").join(out, on="article_id"))
    assert stories.columns == ["story_id", "title", "first_published", "article_count", "publisher_count"]
    assert stories.height == 6 and stories["story_id"].n_unique() == 6
    izmir = stories.filter(pl.col("story_id") == story_id_for("quake-a1")).row(0, named=True)
    assert izmir["article_count"] == 3 and izmir["publisher_count"] == 3
    assert izmir["first_published"] == D
    assert izmir["title"] == "Strong earthquake hits Izmir, buildings collapse"


@pytest.mark.skipif(not ECB_FILE.exists(), reason="evaluation data not present")
def test_ecbplus_quality_gate():
    from stories import articles_frame, load_rows, run_pipeline_clustering

    rows = load_rows(ECB_FILE, "story_id")
    gold = [r["gold"] for r in rows]
    frame = articles_frame(rows)
    for batches, floor in ((1, ECB_BCUBED_F1_FLOOR), (5, ECB_INCREMENTAL_BCUBED_F1_FLOOR)):
        assigned = run_pipeline_clustering(frame, batches, 3)
        _, _, f1 = bcubed([assigned[r["doc_id"]] for r in rows], gold)
        assert f1 >= floor, (batches, f1)


def test_stored_terms_give_the_same_stories_as_the_text():
    """History read back as stored terms (no title, body or entities) clusters exactly like its text."""
    first = _fixture_frame([a[0] for a in ARTICLES if a[3] == 0])
    history = _with_stories(first, _assigned(assign_stories(first, first.clear())))
    new = _fixture_frame([a[0] for a in ARTICLES if a[3] > 0])
    from_text = assign_stories(new, history)
    stored = history.select("article_id", "date", "duplicate_of", "story_id", "publisher").join(
        story_terms(history), on="article_id")
    assert "body" not in stored.columns and stored["story_terms"].list.len().min() > 0
    assert assign_stories(new, stored).equals(from_text)
    # a mix (rows of an older version have no terms) is the same too
    mixed = pl.concat([stored.head(2), history.slice(2).join(story_terms(history.slice(2)), on="article_id")],
                      how="diagonal_relaxed")
    assert assign_stories(new, mixed).equals(from_text)
    assert set(from_text["story_id"]) & set(history["story_id"])  # some join a stored story: a real test


def test_search_limited_to_new_articles_finds_the_pairs_a_full_search_finds():
    """Pairs with a new article get the same similarity whether every row or only the rows near
    new articles are searched (two stored stories never merge, so only those pairs matter)."""
    import numpy as np

    from transforms import stories as S
    frame = _fixture_frame()
    p = S.StoryParams()
    pool = S._prepare(frame, True).sort("date", "article_id")
    x = S._tfidf(S._terms_of(pool, p), pool.height, p.max_terms)
    days = pool["date"].to_physical().to_numpy().astype(np.int64)
    active = np.zeros(pool.height, dtype=bool)
    active[[1, pool.height // 2, pool.height - 1]] = True
    full = dict(((a, b), s) for a, b, s in zip(*S._edges(x, days, 3, p)) if active[a] or active[b])
    part = dict(((a, b), s) for a, b, s in zip(*S._edges(x, days, 3, p, active)))
    assert full and part.keys() == full.keys()
    assert all(abs(part[k] - full[k]) < 1e-12 for k in full)
