"""Topic scoring: assignments for the seeds and an AllSides sample next to its `topic` label, plus speed.

Usage:
    .venv/bin/python bench/topics.py                   # seeds + 500 AllSides articles + speed on the whole corpus
    .venv/bin/python bench/topics.py --sample 2000 --show 40 --audit 30
    FPWATCH_EVAL_DIR=/path/to/eval .venv/bin/python bench/topics.py

The eval data is read in place (default ../shared/eval next to the repo, or FPWATCH_EVAL_DIR, or
--eval-dir) and never copied; without it, only the seeds and a speed run on the seeds are printed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import resource
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from transforms.topics import DEFAULT_MIN_SCORE, load_taxonomy, score_topics  # noqa: E402

CORPUS = "corpus/allsides_foreign_policy.jsonl.gz"
CONFIDENT = 0.5  # the analyst's filter the scores are calibrated for

# AllSides `topic` labels -> the fpwatch topics an article with that label may fairly carry.
# Geographic and generic labels have no counterpart in a thematic taxonomy (listed in NO_COUNTERPART).
GOLD_MAP: dict[str, set[str]] = {
    "terrorism": {"terrorism"},
    "isis": {"terrorism", "armed_conflict"},
    "nuclear_weapons": {"nuclear_proliferation"},
    "north_korea": {"nuclear_proliferation", "sanctions_export_controls", "summits_visits", "military_posture"},
    "us_military": {"military_posture", "armed_conflict", "alliances_defence", "arms_sales"},
    "defense": {"military_posture", "armed_conflict", "alliances_defence", "arms_sales"},
    "national_defense": {"military_posture", "armed_conflict", "alliances_defence", "arms_sales"},
    "cia": {"intelligence_surveillance"},
    "national_security": {"intelligence_surveillance", "terrorism", "military_posture", "cyber_technology", "nuclear_proliferation"},
}
NO_COUNTERPART = {
    "middle_east": "region", "world": "generic", "foreign_policy": "generic", "state_department": "an institution, not a theme",
    "russia": "country", "great_britain": "country", "china": "country", "europe": "region", "israel": "country",
    "mexico": "country", "asia": "region", "palestine": "territory", "africa": "region", "south_korea": "country",
}


def _eval_dir(arg: str | None) -> Path:
    return Path(arg or os.environ.get("FPWATCH_EVAL_DIR") or REPO.parent / "shared" / "eval")


def _seed_frame() -> pl.DataFrame:
    rows = []
    for path in sorted((REPO / "seeds").glob("*.txt")):
        text = re.sub(r"^\s*date \d{4}-\d{2}-\d{2}\s*", "", path.read_text(encoding="utf-8"))
        rows.append({"article_id": path.stem, "title": None, "body": text})
    return pl.DataFrame(rows, schema={"article_id": pl.Utf8, "title": pl.Utf8, "body": pl.Utf8})


def _corpus_frame(path: Path) -> pl.DataFrame:
    rows = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            rows.append({"article_id": str(rec["ID"]), "title": rec.get("title"), "body": rec.get("content_original") or "", "gold": rec["topic"]})
    return pl.DataFrame(rows)


def _print_seeds(taxonomy) -> None:
    out = score_topics(_seed_frame(), taxonomy)
    print("== Seeds (score >= %.2f; * = >= %.1f)" % (DEFAULT_MIN_SCORE, CONFIDENT))
    for (article_id,), group in out.group_by("article_id", maintain_order=True):
        print(f"-- {article_id}")
        for row in group.iter_rows(named=True):
            mark = "*" if row["score"] >= CONFIDENT else " "
            print(f"  {mark} {row['score']:.2f} {row['topic']:<30} {row['evidence'][:110]!r}")


def load_sample(eval_dir: Path, size: int, seed: int) -> pl.DataFrame | None:
    """A deterministic AllSides sample (article_id, title, body, gold), or None without the eval data."""
    path = eval_dir / CORPUS
    if not path.exists():
        return None
    corpus = _corpus_frame(path)
    picked = sorted(random.Random(seed).sample(range(corpus.height), min(size, corpus.height)))
    return corpus[picked]


def top_topics(scored: pl.DataFrame) -> dict[str, str]:
    """article_id -> its top-ranked topic."""
    return {r["article_id"]: r["topic"] for r in scored.filter(pl.col("rank") == 1).iter_rows(named=True)}


def chance_corrected_top1(sample: pl.DataFrame, top: dict[str, str]) -> dict[str, float]:
    """Top-topic agreement on the mapped articles against the agreement expected by chance from the
    predictor's own topic frequencies (Cohen's kappa for one prediction against a gold set):
    observed, expected and kappa = (observed - expected) / (1 - expected). A constant predictor
    (the same top topic for every article) scores kappa 0 whatever the topic; a random one ~0."""
    rows = [(top.get(aid), GOLD_MAP[g]) for aid, g in zip(sample["article_id"].to_list(), sample["gold"].to_list())
            if g in GOLD_MAP]
    if not rows:
        return {"n": 0, "observed": 0.0, "expected": 0.0, "kappa": 0.0}
    n = len(rows)
    observed = sum(p in targets for p, targets in rows) / n
    predicted = Counter(p for p, _ in rows)
    expected = sum(cnt / n * sum(t in targets for _, targets in rows) / n for t, cnt in predicted.items())
    kappa = (observed - expected) / (1 - expected) if expected < 1 else 0.0
    return {"n": n, "observed": observed, "expected": expected, "kappa": kappa}


def per_topic_precision(sample: pl.DataFrame, top: dict[str, str]) -> dict[str, tuple[int, float]]:
    """Per predicted top topic: (articles, share whose gold label maps to it), mapped articles only."""
    hits: dict[str, list[bool]] = defaultdict(list)
    for aid, g in zip(sample["article_id"].to_list(), sample["gold"].to_list()):
        if g in GOLD_MAP and aid in top:
            hits[top[aid]].append(top[aid] in GOLD_MAP[g])
    return {t: (len(v), sum(v) / len(v)) for t, v in sorted(hits.items())}


def agreement(sample: pl.DataFrame, scored: pl.DataFrame) -> dict[str, float]:
    """Headline agreement on the mapped articles: n, top1, any_confident, any_min (fractions)."""
    tops: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for row in scored.sort("article_id", "rank").iter_rows(named=True):
        tops[row["article_id"]].append((row["topic"], row["score"]))
    n = top1 = any_conf = any_min = 0
    for article_id, gold in zip(sample["article_id"].to_list(), sample["gold"].to_list()):
        targets = GOLD_MAP.get(gold)
        if targets is None:
            continue
        topics = tops.get(article_id, [])
        n += 1
        top1 += bool(topics) and topics[0][0] in targets
        any_conf += any(t in targets for t, s in topics if s >= CONFIDENT)
        any_min += any(t in targets for t, _ in topics)
    n_safe = max(n, 1)
    return {"n": n, "top1": top1 / n_safe, "any_confident": any_conf / n_safe, "any_min": any_min / n_safe}


def _agreement(sample: pl.DataFrame, scored: pl.DataFrame, show: int) -> None:
    by_article: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for row in scored.iter_rows(named=True):
        by_article[row["article_id"]].append((row["topic"], row["score"]))
    print("\n== Label mapping (AllSides topic -> fpwatch topics counted as agreeing)")
    for label, targets in GOLD_MAP.items():
        print(f"  {label:<18} -> {', '.join(sorted(targets))}")
    print("  no counterpart (not scored): " + ", ".join(f"{k} ({v})" for k, v in NO_COUNTERPART.items()))

    print(f"\n== First {show} sampled articles: gold label | top topics (score)")
    for row in sample.head(show).iter_rows(named=True):
        tops = ", ".join(f"{t} {s:.2f}" for t, s in by_article.get(row["article_id"], [])[:3]) or "-"
        print(f"  [{row['gold']:<16}] {(row['title'] or '')[:60]:<60} | {tops}")

    per_label: dict[str, Counter] = defaultdict(Counter)
    topic_pred: Counter = Counter()
    topic_right: Counter = Counter()
    for row in sample.iter_rows(named=True):
        targets = GOLD_MAP.get(row["gold"])
        if targets is None:
            continue
        topics = by_article.get(row["article_id"], [])
        confident = [t for t, s in topics if s >= CONFIDENT]
        c = per_label[row["gold"]]
        c["n"] += 1
        c["top1"] += bool(topics) and topics[0][0] in targets
        c["top1_conf"] += bool(confident) and confident[0] in targets
        c["has_conf"] += bool(confident)
        c["any_conf"] += any(t in targets for t in confident)
        c["any_min"] += any(t in targets for t, _ in topics)
        for t in confident:
            topic_pred[t] += 1
            topic_right[t] += t in targets
    total = Counter()
    for c in per_label.values():
        total.update(c)
    print(f"\n== Agreement on the {total['n']} sampled articles whose label has a counterpart")
    print(f"  {'label':<18} {'n':>4} {'top1 in gold':>13} {'any>=0.5 in gold':>17} {'any>=min in gold':>17}")
    for label, c in sorted(per_label.items(), key=lambda kv: -kv[1]["n"]) + [("ALL", total)]:
        n = max(c["n"], 1)
        print(f"  {label:<18} {c['n']:>4} {c['top1'] / n:>13.3f} {c['any_conf'] / n:>17.3f} {c['any_min'] / n:>17.3f}")
    n = max(total["n"], 1)
    has = max(total["has_conf"], 1)
    print(f"  top-topic precision (top topic in gold set, all mapped articles): {total['top1'] / n:.3f}")
    print(f"  top-topic precision among articles with a topic >= {CONFIDENT}: {total['top1_conf'] / has:.3f} "
          f"(coverage {total['has_conf'] / n:.3f})")
    print(f"  any-topic recall (a topic >= {CONFIDENT} in gold set): {total['any_conf'] / n:.3f}")
    print(f"  any-topic recall (a topic >= {DEFAULT_MIN_SCORE} in gold set): {total['any_min'] / n:.3f}")
    top = top_topics(scored)
    cc = chance_corrected_top1(sample, top)
    ids = sample["article_id"].to_list()
    const = max(chance_corrected_top1(sample, dict.fromkeys(ids, t))["observed"] for t in set(top.values()))
    print(f"  top topic against chance: observed {cc['observed']:.3f}, expected from the scorer's own topic "
          f"frequencies {cc['expected']:.3f}, kappa {cc['kappa']:.3f} (the best constant top topic "
          f"agrees {const:.3f}, kappa 0)")
    print("  per-topic precision of the top topic (articles, share whose AllSides label maps to it):")
    for t, (k, prec) in per_topic_precision(sample, top).items():
        print(f"    {t:<30} {k:>4} {prec:.3f}")
    print("  per-topic agreement of >= 0.5 assignments on mapped articles (a lower bound on precision: each")
    print("  article has ONE gold label, so a correct second topic counts as wrong):")
    for t, k in topic_pred.most_common():
        print(f"    {t:<30} {k:>4} assigned, {topic_right[t] / k:.3f} in gold set")


def _audit(sample: pl.DataFrame, scored: pl.DataFrame, n: int, rng: random.Random) -> None:
    confident = scored.filter(pl.col("score") >= CONFIDENT)
    if confident.height == 0 or n <= 0:
        return
    rows = confident.sample(n=min(n, confident.height), seed=rng.randrange(2**31)).join(
        sample.select("article_id", "title", "gold"), on="article_id"
    )
    print(f"\n== Audit: {rows.height} random assignments with score >= {CONFIDENT} (judge the evidence by eye)")
    for row in rows.iter_rows(named=True):
        print(f"  {row['score']:.2f} {row['topic']:<28} [{row['gold']}] {(row['title'] or '')[:70]}")
        print(f"       cues: {', '.join(row['matched_cues'][:6])}")
        print(f"       evidence: {row['evidence'][:200]!r}")


def _speed(frame: pl.DataFrame, taxonomy, repeat: int) -> None:
    frame = frame.select("article_id", "title", "body")
    chars = frame["body"].str.len_chars().sum()
    score_topics(frame.head(50), taxonomy)  # warm the phrase cache the way a long-running worker has it
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        start, cpu_start = time.perf_counter(), _cpu_seconds()
        out = score_topics(frame, taxonomy)
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, _cpu_seconds() - cpu_start)
    print(f"\n== Speed: {frame.height} articles ({chars / frame.height:,.0f} chars mean) in {best:.2f} s wall (best of {repeat}): "
          f"{frame.height / best:,.0f} articles/s, {chars / best / 1e6:.1f} M chars/s; CPU {best_cpu:.2f} s = "
          f"{frame.height / best_cpu:,.0f} articles per CPU-second (wall depends on other load: {os.getloadavg()[0]:.1f} now)")
    print(f"   {out.height / frame.height:.1f} topic rows/article, {out.filter(pl.col('score') >= CONFIDENT).height / frame.height:.1f} >= {CONFIDENT}")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval-dir", help="evaluation data folder (default: FPWATCH_EVAL_DIR or ../shared/eval)")
    parser.add_argument("--sample", type=int, default=500, help="AllSides articles to sample (default 500)")
    parser.add_argument("--seed", type=int, default=7, help="sampling seed (default 7)")
    parser.add_argument("--show", type=int, default=25, help="sampled articles to print with their topics (default 25)")
    parser.add_argument("--audit", type=int, default=0, help="print N random >= 0.5 assignments with evidence")
    parser.add_argument("--repeat", type=int, default=2, help="speed runs over the whole corpus, best kept (default 2)")
    args = parser.parse_args()

    taxonomy = load_taxonomy()
    print(f"taxonomy {taxonomy.version}: {len(taxonomy.topics)} topics, "
          f"{sum(len(t.cues) for t in taxonomy.topics)} cues, {len(taxonomy.ignore)} ignore phrases")
    _print_seeds(taxonomy)

    corpus_path = _eval_dir(args.eval_dir) / CORPUS
    if not corpus_path.exists():
        print(f"\n(no eval corpus at {corpus_path}: skipping the AllSides agreement; speed on the seeds only)")
        _speed(pl.concat([_seed_frame()] * 200).with_row_index("n").with_columns(
            pl.format("{}-{}", "article_id", "n").alias("article_id")), taxonomy, args.repeat)
        return
    corpus = _corpus_frame(corpus_path)
    sample = load_sample(_eval_dir(args.eval_dir), args.sample, args.seed)
    rng = random.Random(args.seed + 1)
    scored = score_topics(sample.select("article_id", "title", "body"), taxonomy)
    _agreement(sample, scored, args.show)
    _audit(sample, scored, args.audit, rng)
    _speed(corpus, taxonomy, args.repeat)


if __name__ == "__main__":
    main()
