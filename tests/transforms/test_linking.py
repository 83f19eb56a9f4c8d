"""Placement rules of new articles among stored ones (transforms/linking.py), on small inline frames."""

from __future__ import annotations

import datetime as dt

import polars as pl

from transforms.linking import duplicate_order, place_articles, story_days, story_pool

TODAY = dt.date(2024, 5, 10)
UTC = dt.timezone.utc


def _articles():
    return pl.DataFrame(
        {
            "article_id": ["dated", "undated-known", "undated-new", "undated-nothing"],
            "published_date": [dt.date(2024, 5, 1), None, None, None],
            "first_seen_at": [dt.datetime(2024, 5, 9, 8, tzinfo=UTC), dt.datetime(2024, 5, 9, 8, tzinfo=UTC),
                              dt.datetime(2024, 5, 8, 23, tzinfo=UTC), None],
        }
    )


def test_partition_is_published_date_else_kept_partition_else_first_seen_else_today():
    existing = pl.DataFrame({"article_id": ["undated-known", "dated"], "old_partition": [dt.date(2024, 4, 2)] * 2,
                             "old_story": ["s1", None]})
    first_seen = pl.DataFrame({"article_id": ["undated-new"], "old_first_seen": [dt.datetime(2024, 5, 7, 6, tzinfo=UTC)]},
                              schema_overrides={"old_first_seen": pl.Datetime("us", "UTC")})
    placed = place_articles(_articles(), existing.with_columns(pl.col("old_story").cast(pl.Utf8)), first_seen, TODAY)
    got = dict(zip(placed["article_id"], placed["partition_date"], strict=True))
    assert got == {
        "dated": dt.date(2024, 5, 1),  # a date wins even over a stored partition (the article moves)
        "undated-known": dt.date(2024, 4, 2),  # kept where it was first stored
        "undated-new": dt.date(2024, 5, 7),  # the earliest time it was ever seen, not this run's
        "undated-nothing": TODAY,
    }
    earliest = dict(zip(placed["article_id"], placed["first_seen_at"], strict=True))
    assert earliest["undated-new"] == dt.datetime(2024, 5, 7, 6, tzinfo=UTC)


def test_the_earliest_copy_sorts_first_and_ids_break_ties():
    frame = pl.DataFrame({"article_id": ["b", "a", "c"], "published_date": [dt.date(2024, 5, 2), dt.date(2024, 5, 2), None],
                          "partition_date": [dt.date(2024, 5, 2), dt.date(2024, 5, 2), dt.date(2024, 5, 1)]})
    order = duplicate_order(frame).sort("sort_key")["article_id"].to_list()
    assert order == ["c", "a", "b"]


def test_story_window_covers_the_dates_and_today_for_undated_articles():
    days = story_days(_articles(), TODAY, window_days=1)
    assert days == [dt.date(2024, 4, 30), dt.date(2024, 5, 1), dt.date(2024, 5, 2),
                    dt.date(2024, 5, 9), TODAY, dt.date(2024, 5, 11)]
    only_dated = story_days(_articles().head(1), TODAY, window_days=0)
    assert only_dated == [dt.date(2024, 5, 1)]


def test_story_pool_keeps_previous_story_and_entity_lists():
    articles = pl.DataFrame({"article_id": ["a", "b"], "title": ["t", "u"], "body": ["x", "y"], "publisher": ["P", "Q"],
                             "duplicate_of": [None, None], "published_date": [TODAY, None], "old_story": ["s1", None]},
                            schema_overrides={"duplicate_of": pl.Utf8, "old_story": pl.Utf8})
    mentions = pl.DataFrame({"article_id": ["a", "a", "a"], "entity_id": ["jp", "us", "jp"]})
    pool = story_pool(articles, mentions).sort("article_id")
    assert pool["story_id"].to_list() == ["s1", None]
    assert pool["entity_ids"].to_list() == [["jp", "us"], []]


def test_story_groups_split_where_windows_cannot_meet():
    from transforms.linking import story_groups

    dates = [dt.date(2024, 5, 1), dt.date(2024, 5, 3), dt.date(2024, 5, 20), None, dt.date(2021, 1, 1)]
    frame = pl.DataFrame({"article_id": ["a", "b", "c", "u", "old"], "published_date": dates})
    groups = [sorted(g["article_id"].to_list()) for g in story_groups(frame, TODAY, window_days=3)]
    # 2021 alone; May 1 and 3 together (2 days apart); May 10 (today, the undated one) alone; May 20 alone
    assert groups == [["old"], ["a", "b"], ["u"], ["c"]]
    assert sum(len(g) for g in groups) == frame.height
    assert [len(g) for g in story_groups(frame, TODAY, window_days=10)] == [1, 4]
