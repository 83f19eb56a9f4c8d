"""Rules that place a new article among those already stored: partition, duplicate order, story pool.

Pure functions over frames (the flows read what they need from the warehouse and pass it in):
- `place_articles`: partition_date = published date, else the partition the article already has,
  else the day it was first seen, else the run's day; first_seen_at is the earliest ever seen.
- `duplicate_order`: the sort key that decides which copy is the original (earliest date, then id).
- `story_groups`, `story_days` and `story_pool`: groups of new articles whose windows cannot
  meet, which days' stored articles a group is clustered against, and the pool handed to the
  story clustering.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

EMPTY_IDS = pl.lit([], dtype=pl.List(pl.Utf8))


def place_articles(
    articles: pl.DataFrame, existing: pl.DataFrame, first_seen: pl.DataFrame, today: dt.date
) -> pl.DataFrame:
    """Give every article its partition_date and earliest first_seen_at.

    articles: article_id, published_date, first_seen_at (+ any). existing: article_id, old_partition,
    old_story (what the warehouse holds). first_seen: article_id, old_first_seen. Returns articles
    with old_partition, old_story, first_seen_at (earliest) and partition_date (never null).
    """
    return (
        articles.join(existing, on="article_id", how="left")
        .join(first_seen, on="article_id", how="left")
        .with_columns(pl.coalesce("old_first_seen", "first_seen_at").alias("first_seen_at"))
        .drop("old_first_seen")
        .with_columns(
            pl.coalesce(
                "published_date", "old_partition", pl.col("first_seen_at").dt.date(), pl.lit(today)
            ).alias("partition_date")
        )
    )


def duplicate_order(articles: pl.DataFrame) -> pl.DataFrame:
    """Add sort_key: the earliest article (by published date, else partition date; then id) is the original."""
    date = pl.coalesce("published_date", "partition_date")
    return articles.with_columns(
        pl.concat_str([date.dt.strftime("%Y-%m-%d"), pl.col("article_id")], separator="|").alias("sort_key")
    )


def story_days(articles: pl.DataFrame, today: dt.date, window_days: int) -> list[dt.date]:
    """Partitions whose stored articles may share a story with `articles` (the open-story window).

    Stories compare articles by their published date; an undated article's first-seen day says little
    about the event, so it is clustered as of the newest date in the pool, with today's window added.
    """
    days = set(articles["published_date"].drop_nulls().unique().to_list())
    if articles["published_date"].null_count():
        days.add(today)
    return sorted({d + dt.timedelta(days=k) for d in days for k in range(-window_days, window_days + 1)})


def story_groups(articles: pl.DataFrame, today: dt.date, window_days: int) -> list[pl.DataFrame]:
    """Split articles into groups whose story windows cannot meet, in date order.

    Two articles more than 2 x window_days apart share no story and no stored neighbours, so each
    group is clustered against its own window alone: the same stories as clustering all at once,
    with the history of one window in memory instead of every window of a chunk spread over years
    (bench/warehouse.py: 100 articles over three years read ~640,000 stored articles at once).
    Undated articles are clustered as of today, with the group around today.
    """
    if articles.is_empty():
        return []
    keyed = articles.with_columns(pl.coalesce("published_date", pl.lit(today)).alias("_anchor")).sort("_anchor")
    anchors = keyed["_anchor"].to_list()
    groups, start = [], 0
    for i in range(1, len(anchors)):
        if (anchors[i] - anchors[i - 1]).days > 2 * window_days:
            groups.append(keyed.slice(start, i - start))
            start = i
    groups.append(keyed.slice(start))
    return [g.drop("_anchor") for g in groups]


def entity_lists(mentions: pl.DataFrame) -> pl.DataFrame:
    """article_id -> sorted unique entity ids (the entity overlap stories use)."""
    return mentions.group_by("article_id").agg(pl.col("entity_id").unique().sort().alias("entity_ids"))


def story_pool(articles: pl.DataFrame, mentions: pl.DataFrame) -> pl.DataFrame:
    """The new articles as assign_stories wants them (date, story_id kept from a previous run, entity_ids)."""
    return (
        articles.select(
            "article_id", "title", "body", "publisher", "duplicate_of", pl.col("published_date").alias("date"),
            pl.col("old_story").alias("story_id"),
        )
        .join(entity_lists(mentions), on="article_id", how="left")
        .with_columns(pl.col("entity_ids").fill_null(EMPTY_IDS))
    )


def story_history(history: pl.DataFrame, mentions: pl.DataFrame) -> pl.DataFrame:
    """Stored articles of the window with their entity lists (history: article_id, title, body, ...)."""
    if history.is_empty():
        return history.with_columns(EMPTY_IDS.alias("entity_ids"))
    return history.join(entity_lists(mentions), on="article_id", how="left").with_columns(
        pl.col("entity_ids").fill_null(EMPTY_IDS)
    )
