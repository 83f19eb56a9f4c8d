"""Time to assign N articles (default 100k) to stories, day by day as the pipeline does.

Usage (from the repo root):
    .venv/bin/python bench/stories_scale.py [--articles 100000] [--days 60] [--window-days 3]
        [--dedup] [--corpus PATH]

Articles are built by repeating the AllSides corpus
(``$FPWATCH_EVAL_DIR/corpus/allsides_foreign_policy.jsonl.gz``) with fresh ids, perturbed
bodies (each sentence dropped with probability 0.15, seeded) and dates spread uniformly over
``--days`` days. Each day calls ``assign_stories(new=that day, history=the last window_days
days with their story ids)`` exactly as the flow does, so the cost per day depends on the
window, not on the size of the warehouse. ``--dedup`` also times ``compute_signatures`` and
``find_duplicates`` against the window's stored signatures. Skips cleanly without the corpus.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import random
import re
import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from transforms.dedup import compute_signatures, find_duplicates  # noqa: E402
from transforms.stories import assign_stories, summarize_stories  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
START = dt.date(2024, 1, 1)
DROP_SENTENCE = 0.15


def default_corpus() -> Path:
    """The AllSides corpus in the evaluation folder."""
    root = Path(os.environ.get("FPWATCH_EVAL_DIR", REPO.parent / "shared" / "eval"))
    return root / "corpus" / "allsides_foreign_policy.jsonl.gz"


def build_articles(corpus: Path, n: int, days: int, seed: int = 7) -> pl.DataFrame:
    """n articles from the corpus: fresh ids, perturbed bodies, dates over ``days`` days."""
    with gzip.open(corpus, "rt", encoding="utf-8") as fh:
        src = [json.loads(line) for line in fh if line.strip()]
    rng = random.Random(seed)
    split = re.compile(r"(?<=[.!?])\s+")
    sentences = [split.split(r.get("content_original") or "") for r in src]
    rows = []
    for k in range(n):
        r, sents = src[k % len(src)], sentences[k % len(src)]
        copy = k // len(src)
        body = " ".join(s for s in sents if copy == 0 or rng.random() >= DROP_SENTENCE)
        rows.append({
            "article_id": f"scale-{copy:03d}-{k % len(src):05d}",
            "title": r.get("title"),
            "body": body,
            "date": START + dt.timedelta(days=rng.randrange(days)),
            "publisher": r.get("source"),
        })
    return pl.DataFrame(rows).with_columns(
        pl.lit(None, pl.String).alias("duplicate_of"),
        pl.lit([], pl.List(pl.String)).alias("entity_ids"),
        pl.lit(None, pl.String).alias("story_id"),
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--articles", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--window-days", type=int, default=3)
    ap.add_argument("--dedup", action="store_true", help="also time the duplicate search")
    ap.add_argument("--corpus", type=Path, default=None)
    args = ap.parse_args(argv)
    corpus = args.corpus or default_corpus()
    if not corpus.exists():
        print(f"skip: {corpus} not found (set FPWATCH_EVAL_DIR or pass --corpus)")
        return 0
    t0 = time.perf_counter()
    articles = build_articles(corpus, args.articles, args.days)
    print(f"built {articles.height} articles over {args.days} days in {time.perf_counter() - t0:.1f} s "
          f"(mean {articles['body'].str.len_chars().mean():.0f} chars)")

    done: list[pl.DataFrame] = []
    signatures: list[pl.DataFrame] = []
    story_secs = dedup_secs = 0.0
    worst = (0.0, None, 0)
    pool_sizes = []
    for k, day in enumerate(sorted(articles["date"].unique().to_list())):
        new = articles.filter(pl.col("date") == day)
        lo = day - dt.timedelta(days=args.window_days)
        history = (pl.concat(done).filter(pl.col("date") >= lo) if done else new.clear())
        if args.dedup:
            t = time.perf_counter()
            sig = compute_signatures(new).with_columns(sort_key=pl.lit(day.isoformat()) + pl.col("article_id"))
            old = pl.concat(signatures).filter(pl.col("sort_key") >= lo.isoformat()) if signatures else None
            dups = find_duplicates(new.with_columns(sort_key=pl.lit(day.isoformat()) + pl.col("article_id")),
                                   sig.drop("sort_key"), old)
            new = new.drop("duplicate_of").join(dups, on="article_id")
            signatures.append(sig)
            dedup_secs += time.perf_counter() - t
        t = time.perf_counter()
        out = assign_stories(new, history, window_days=args.window_days)
        secs = time.perf_counter() - t
        story_secs += secs
        pool_sizes.append(new.height + history.height)
        worst = max(worst, (secs, day, new.height + history.height), key=lambda w: w[0])
        done.append(new.drop("story_id").join(out, on="article_id"))
        if k % 10 == 9:
            print(f"  day {k + 1}: {sum(d.height for d in done)} articles, {story_secs:.1f} s in assign_stories",
                  flush=True)
    allrows = pl.concat(done)
    stories = summarize_stories(allrows)
    sizes = stories["article_count"]
    print(f"assign_stories: {allrows.height} articles in {story_secs:.1f} s "
          f"({allrows.height / story_secs:.0f} articles/s; {story_secs / len(pool_sizes):.2f} s per day, "
          f"slowest {worst[0]:.2f} s on {worst[1]} with a pool of {worst[2]})")
    print(f"  pool per day (new + {args.window_days}-day window): mean {sum(pool_sizes) / len(pool_sizes):.0f}")
    print(f"  {stories.height} stories; {int((sizes > 1).sum())} with 2+ articles; largest {int(sizes.max())}; "
          f"multi-publisher {int((stories['publisher_count'] > 1).sum())}")
    if args.dedup:
        ndup = int(allrows["duplicate_of"].is_not_null().sum())
        print(f"dedup: {dedup_secs:.1f} s ({allrows.height / dedup_secs:.0f} articles/s), {ndup} duplicates found")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
