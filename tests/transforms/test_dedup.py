"""Duplicates: content hashes, MinHash signatures and duplicate groups (seeds + inline texts)."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from story_fixtures import ARTICLES, load_seeds
from transforms.dedup import (
    NUM_PERM,
    SIGNATURE_SCHEMA,
    compute_signatures,
    content_hash,
    find_duplicates,
)

SEEDS = load_seeds()


def _frame(ids, bodies, keys=None) -> pl.DataFrame:
    return pl.DataFrame({"article_id": ids, "body": bodies, "sort_key": keys or list(ids)})


def _existing(frame: pl.DataFrame, **extra) -> pl.DataFrame:
    sig = compute_signatures(frame)
    out = sig.join(frame.select("article_id", "sort_key"), on="article_id")
    return out.with_columns(**{k: pl.Series(v, dtype=pl.String) for k, v in extra.items()})


def test_content_hash_folds_case_whitespace_and_punctuation():
    assert content_hash("Hello,   World!\n") == content_hash("hello world")
    assert content_hash("Hello world") != content_hash("Hello there world")


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet=st.characters(codec="ascii", categories=("L", "N", "Zs", "P")), max_size=80))
def test_content_hash_ignores_case_and_spacing(text):
    assert content_hash(text) == content_hash("  " + text.upper().replace(" ", "  \n") + " .")


def test_signatures_schema_and_stability():
    frame = _frame([s[0] for s in SEEDS], [s[1] for s in SEEDS])
    a, b = compute_signatures(frame), compute_signatures(frame.reverse())
    assert dict(a.schema) == SIGNATURE_SCHEMA
    assert a["minhash"].list.len().to_list() == [NUM_PERM] * len(SEEDS)
    assert a.sort("article_id").equals(b.sort("article_id"))  # no dependence on batch order


def test_seeds_only_001_is_a_duplicate_of_000():
    ids = [s[0] for s in SEEDS]
    frame = _frame(ids, [s[1] for s in SEEDS])
    out = find_duplicates(frame, compute_signatures(frame), None)
    got = dict(zip(out["article_id"], out["duplicate_of"]))
    assert got[ids[1]] == ids[0]
    assert [got[i] for i in ids if i != ids[1]] == [None] * 4


def test_duplicate_points_at_the_earliest_article():
    ids = [s[0] for s in SEEDS[:2]]
    frame = _frame(ids, [s[1] for s in SEEDS[:2]], keys=["2021-12-13", "2021-12-12"])  # 001 first
    out = find_duplicates(frame, compute_signatures(frame), None)
    assert dict(zip(out["article_id"], out["duplicate_of"])) == {ids[0]: ids[1], ids[1]: None}


def test_new_copy_of_a_stored_article_across_runs():
    first = _frame([SEEDS[0][0]], [SEEDS[0][1]], keys=["2021-12-12"])
    new = _frame([SEEDS[1][0], "other"], [SEEDS[1][1], ARTICLES[0][5]], keys=["2021-12-13", "2021-12-13"])
    out = find_duplicates(new, compute_signatures(new), _existing(first))
    assert out["duplicate_of"].to_list() == [SEEDS[0][0], None]


def test_copy_of_a_stored_copy_resolves_to_the_original():
    body = ARTICLES[3][5]
    stored = _frame(["orig", "copy1"], [body, body.upper()], keys=["1", "2"])
    existing = _existing(stored, duplicate_of=[None, "orig"]).filter(pl.col("article_id") == "copy1")
    new = _frame(["copy2"], [body + "  "], keys=["3"])
    out = find_duplicates(new, compute_signatures(new), existing)
    assert out["duplicate_of"].to_list() == ["orig"]


def test_same_story_different_outlets_are_not_duplicates():
    rows = [a for a in ARTICLES if a[1] in ("quake_haiti", "summit_nato_brussels")]
    frame = _frame([a[0] for a in rows], [a[5] for a in rows])
    out = find_duplicates(frame, compute_signatures(frame), None)
    assert out["duplicate_of"].null_count() == len(rows)


def test_lightly_edited_copy_and_empty_bodies():
    body = ARTICLES[6][5]
    edited = body.replace("endorsed", "backed").replace("Leaders", "Heads of government") + " More to follow."
    frame = _frame(["a", "b", "e1", "e2"], [body, edited, "", "   "])
    out = find_duplicates(frame, compute_signatures(frame), None)
    assert out["duplicate_of"].to_list() == [None, "a", None, None]


def test_struct_sort_key_as_the_flow_passes_it():
    import datetime as dt

    frame = _frame([s[0] for s in SEEDS[:2]], [s[1] for s in SEEDS[:2]]).with_columns(
        sort_key=pl.struct(pl.Series("d", [dt.date(2021, 12, 13), dt.date(2021, 12, 12)]), pl.col("article_id")))
    out = find_duplicates(frame.tail(1), compute_signatures(frame.tail(1)), _existing(frame.head(1)))
    # the stored article is later by date, so the new one is the original of the group
    assert out["duplicate_of"].to_list() == [None]
    out = find_duplicates(frame.head(1), compute_signatures(frame.head(1)), _existing(frame.tail(1)))
    assert out["duplicate_of"].to_list() == [SEEDS[1][0]]
