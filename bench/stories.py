"""B-cubed precision/recall/F1 of story clustering on a labelled JSONL file.

Usage (from the repo root):
    .venv/bin/python bench/stories.py [FILE.jsonl] [--gold-field story_id] [--entities]
        [--batches N] [--sweep] [--no-baseline]

Each line needs ``doc_id``, ``text``, the gold cluster field and optionally ``date``
(YYYY-MM-DD) and ``title``. Default file: ``$FPWATCH_EVAL_DIR/stories/ecbplus_dev.jsonl``
(``FPWATCH_EVAL_DIR`` defaults to ``../shared/eval``); skips cleanly when it is absent.
It calls ``transforms.stories.assign_stories``, the function the pipeline uses: in one batch,
or with ``--batches N`` in N sequential batches where each batch sees the earlier ones as
stored history (the incremental path). ``--entities`` runs the NER stage first and passes
``entity_ids``. The baseline is plain TF-IDF cosine + complete linkage at its best threshold
(an oracle-tuned figure, so a fair upper bound for that method).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from transforms.stories import assign_stories  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def default_file() -> Path:
    """The ECB+ dev file in the evaluation folder."""
    root = Path(os.environ.get("FPWATCH_EVAL_DIR", REPO.parent / "shared" / "eval"))
    return root / "stories" / "ecbplus_dev.jsonl"


def bcubed(pred: list, gold: list) -> tuple[float, float, float]:
    """B-cubed precision, recall and F1 of a predicted clustering against gold labels."""
    pc, gc = defaultdict(set), defaultdict(set)
    for k, (p, g) in enumerate(zip(pred, gold)):
        pc[p].add(k)
        gc[g].add(k)
    prec = float(np.mean([len(pc[p] & gc[g]) / len(pc[p]) for p, g in zip(pred, gold)]))
    rec = float(np.mean([len(pc[p] & gc[g]) / len(gc[g]) for p, g in zip(pred, gold)]))
    return prec, rec, (2 * prec * rec / (prec + rec) if prec + rec else 0.0)


def load_rows(path: Path, gold_field: str) -> list[dict]:
    """Labelled rows of a JSONL file (doc_id, text, gold, optional date and title)."""
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                r = json.loads(line)
                rows.append({"doc_id": str(r["doc_id"]), "text": r.get("text") or "", "gold": str(r[gold_field]),
                             "date": r.get("date"), "title": r.get("title")})
    return rows


def articles_frame(rows: list[dict]) -> pl.DataFrame:
    """The frame assign_stories takes (no dates in the file: all on one day)."""
    def day(v):
        try:
            return dt.date.fromisoformat(str(v)[:10])
        except (TypeError, ValueError):
            return dt.date(2000, 1, 1)
    return pl.DataFrame({
        "article_id": [r["doc_id"] for r in rows],
        "title": [r["title"] for r in rows],
        "body": [r["text"] for r in rows],
        "date": [day(r["date"]) for r in rows],
        "publisher": [None] * len(rows),
        "duplicate_of": [None] * len(rows),
        "entity_ids": [[] for _ in rows],
        "story_id": [None] * len(rows),
    }, schema_overrides={"title": pl.String, "publisher": pl.String, "duplicate_of": pl.String,
                         "story_id": pl.String, "entity_ids": pl.List(pl.String), "date": pl.Date})


def add_entities(frame: pl.DataFrame) -> pl.DataFrame:
    """entity_ids from the pipeline's NER stage (transforms/entities.py)."""
    from transforms.entities import extract_entities, load_ner_pipeline
    from transforms.gazetteer import load_gazetteer

    mentions, _ = extract_entities(frame.select("article_id", "body"), load_ner_pipeline(), load_gazetteer())
    ids = mentions.group_by("article_id").agg(pl.col("entity_id").unique().sort().alias("entity_ids"))
    return frame.drop("entity_ids").join(ids, on="article_id", how="left").with_columns(
        pl.col("entity_ids").fill_null(pl.lit([], dtype=pl.List(pl.String))))


def run_pipeline_clustering(frame: pl.DataFrame, batches: int, window_days: int, **params) -> dict[str, str]:
    """story_id per article via assign_stories, in one or several sequential batches."""
    if batches <= 1:
        out = assign_stories(frame, frame.clear(), window_days=window_days, **params)
        return dict(zip(out["article_id"], out["story_id"]))
    order = frame.with_row_index("_k").with_columns((pl.col("_k") * 7919 % frame.height).alias("_shuf"))
    order = order.sort("_shuf").drop("_k", "_shuf")
    assigned: dict[str, str] = {}
    done = frame.clear()
    for part in np.array_split(np.arange(order.height), batches):
        batch = order[part.tolist()]
        out = assign_stories(batch, done, window_days=window_days, **params)
        assigned.update(zip(out["article_id"], out["story_id"]))
        done = pl.concat([done, batch.drop("story_id").join(out, on="article_id")])
    return assigned


def baseline(rows: list[dict], gold: list[str]) -> tuple[float, tuple[float, float, float]]:
    """Plain TF-IDF cosine + complete linkage, best threshold of a sweep."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    docs = [Counter(re.findall(r"\w+", r["text"].lower())) for r in rows]
    vocab = {t: k for k, t in enumerate(sorted({t for d in docs for t in d}))}
    x = np.zeros((len(docs), len(vocab)))
    for k, d in enumerate(docs):
        for t, c in d.items():
            x[k, vocab[t]] = 1 + np.log(c)
    idf = np.log((1 + len(docs)) / (1 + (x > 0).sum(0))) + 1
    x *= idf
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-12
    dist = np.clip(1 - x @ x.T, 0, 2)
    np.fill_diagonal(dist, 0)
    z = linkage(squareform(dist, checks=False), method="complete")
    best = (0.0, (0.0, 0.0, 0.0))
    for th in np.round(np.arange(0.02, 0.62, 0.02), 2):
        res = bcubed(list(fcluster(z, 1 - th, "distance")), gold)
        if res[2] > best[1][2]:
            best = (float(th), res)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file", nargs="?", type=Path, default=None)
    ap.add_argument("--gold-field", default="story_id")
    ap.add_argument("--window-days", type=int, default=3)
    ap.add_argument("--batches", type=int, default=1, help="sequential batches (incremental path)")
    ap.add_argument("--entities", action="store_true", help="run the NER stage and pass entity_ids")
    ap.add_argument("--sweep", action="store_true", help="also print F1 over merge thresholds")
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args(argv)
    path = args.file or default_file()
    if not path.exists():
        print(f"skip: {path} not found (set FPWATCH_EVAL_DIR or pass a file)")
        return 0
    rows = load_rows(path, args.gold_field)
    gold = [r["gold"] for r in rows]
    print(f"{path.name}: {len(rows)} documents, {len(set(gold))} gold stories")
    frame = articles_frame(rows)
    if args.entities:
        t0 = time.perf_counter()
        frame = add_entities(frame)
        print(f"entities: {time.perf_counter() - t0:.1f} s, "
              f"{frame['entity_ids'].list.len().mean():.1f} distinct entity ids per document")
    t0 = time.perf_counter()
    assigned = run_pipeline_clustering(frame, args.batches, args.window_days)
    secs = time.perf_counter() - t0
    pred = [assigned[r["doc_id"]] for r in rows]
    p, r, f = bcubed(pred, gold)
    label = "fpwatch assign_stories" + (" +entities" if args.entities else "") + (
        f" ({args.batches} batches)" if args.batches > 1 else "")
    print(f"{label:44s} P={p:.3f} R={r:.3f} F1={f:.3f}  ({len(set(pred))} stories, {secs:.2f} s)")
    if args.sweep:
        for th in np.round(np.arange(0.12, 0.42, 0.02), 2):
            a = run_pipeline_clustering(frame, args.batches, args.window_days, merge_threshold=float(th))
            print(f"  merge_threshold={th:.2f}  P={{:.3f}} R={{:.3f}} F1={{:.3f}}".format(
                *bcubed([a[x["doc_id"]] for x in rows], gold)))
    if not args.no_baseline:
        if len(rows) > 5000:
            print("baseline skipped (quadratic; > 5000 documents)")
        else:
            th, (bp, br, bf) = baseline(rows, gold)
            print(f"{'baseline TF-IDF cosine + complete linkage':44s} P={bp:.3f} R={br:.3f} F1={bf:.3f}"
                  f"  (best threshold {th:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
