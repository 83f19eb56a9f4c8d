"""Topic scoring: assignments for the seeds and an AllSides sample next to its `topic` label, plus speed.

Usage:
    .venv/bin/python bench/topics.py                   # seeds + 500 AllSides articles + speed on the whole corpus
    .venv/bin/python bench/topics.py --sample 2000 --show 40 --audit 30
    .venv/bin/python bench/topics.py --show 0 --repeat 0      # agreement and per-topic figures only, no speed run
    FPWATCH_EVAL_DIR=/path/to/eval .venv/bin/python bench/topics.py

The eval data is read in place (default ../shared/eval next to the repo, or FPWATCH_EVAL_DIR, or
--eval-dir) and never copied; without it, only the seeds and a speed run on the seeds are printed.

Per-topic precision and recall are printed on two labelled sets, each next to a constant and a random
predictor scored in the same run:
- the AllSides articles whose `topic` label means the same as one fpwatch topic (ONE_TO_ONE below; the
  other labels are left out), one gold topic per article;
- bench/data/topics_hand_labels.csv: a seeded sample of AllSides articles labelled by hand, blind to the
  scorer, with every topic each article is substantially about and an evidence sentence per topic (ids,
  offsets and hashes only; its header gives the protocol). Held out: no scorer setting is tuned on it.
- bench/data/topics_hand_labels_dev.csv: a second, disjoint sample labelled the same way: the part a
  change to topics.toml may be tuned on.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import math
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
# The default agreement sample; the scorer's calibration was audited on it (transforms/topics.py).
DEFAULT_SAMPLE, DEFAULT_SEED = 500, 7
HAND_LABELS = REPO / "bench" / "data" / "topics_hand_labels.csv"  # held out: nothing is tuned on it
HAND_LABELS_DEV = REPO / "bench" / "data" / "topics_hand_labels_dev.csv"  # the tuning part
HAND_LABEL_COLUMNS = ["article_id", "article_sha1", "topic", "evidence_start", "evidence_end", "evidence_sha1"]
# Random predictors are averaged over this many seeds (their spread is printed next to the mean).
RANDOM_SEEDS = 20
# Score cut-offs the hand-sample report sweeps (reporting only: nothing is tuned on that sample).
SWEEP_THRESHOLDS = (0.25, 0.5, 0.6, 0.7, 0.8, 0.9)
# A topic is called weak when precision or recall is below this on at least WEAK_MIN_SUPPORT gold articles.
WEAK_BELOW, WEAK_MIN_SUPPORT = 0.5, 3

# AllSides `topic` labels that mean the same as exactly one fpwatch topic, with the reason. Only these are
# scored one to one; every other label is left out (LEFT_OUT says why), and so are its articles.
ONE_TO_ONE: dict[str, tuple[str, str]] = {
    "terrorism": ("terrorism", "the same theme: attacks, terrorist groups and plots, counter-terrorism"),
    "nuclear_weapons": ("nuclear_proliferation", "nuclear arsenals, weapons programmes, tests and arms "
                        "control: the topic's definition word for word"),
    "cia": ("intelligence_surveillance", "the CIA is a spy agency; its stories (directors, torture and "
            "covert programmes, leaks, assessments) are what the topic covers"),
}
LEFT_OUT = {
    "isis": "an actor, not a theme: its articles split between terrorism and the war on it (armed_conflict)",
    "us_military": "the armed forces as an institution: personnel, accidents, budgets, deployments, wars",
    "defense": "broader than military_posture: transgender policy, procurement, scandals, the border wall",
    "national_defense": "broader than military_posture: UFO videos, troop injuries, climate orders, Syria",
    "national_security": "an umbrella over intelligence, terrorism, nuclear and domestic security",
    "north_korea": "a country", "russia": "a country", "china": "a country", "israel": "a country",
    "great_britain": "a country", "mexico": "a country", "south_korea": "a country",
    "palestine": "a territory", "middle_east": "a region", "europe": "a region", "asia": "a region",
    "africa": "a region", "world": "generic", "foreign_policy": "generic",
    "state_department": "an institution, not a theme",
}

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
    return corpus[_sample_rows(corpus.height, size, seed)]


def _sample_rows(height: int, size: int, seed: int) -> list[int]:
    return sorted(random.Random(seed).sample(range(height), min(size, height)))


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


# --- per-topic precision and recall against a constant and a random predictor ---------------------------


def predicted_sets(scored: pl.DataFrame, threshold: float) -> dict[str, set[str]]:
    """article_id -> the topics the scorer assigns with score >= threshold."""
    out: dict[str, set[str]] = defaultdict(set)
    for aid, topic in scored.filter(pl.col("score") >= threshold).select("article_id", "topic").iter_rows():
        out[aid].add(topic)
    return out


def per_topic(gold: dict[str, set[str]], pred: dict[str, set[str]], topics) -> dict[str, dict[str, float]]:
    """Per topic over the articles in `gold`: support, predicted, tp, precision, recall (nan when undefined)."""
    out = {}
    for t in topics:
        support = sum(t in g for g in gold.values())
        predicted = sum(t in pred.get(a, ()) for a in gold)
        tp = sum(t in pred.get(a, ()) and t in g for a, g in gold.items())
        out[t] = {"support": support, "predicted": predicted, "tp": tp,
                  "precision": tp / predicted if predicted else float("nan"),
                  "recall": tp / support if support else float("nan")}
    return out


def micro(table: dict[str, dict[str, float]]) -> dict[str, float]:
    """Micro-averaged precision, recall and F1 over the topics of a per_topic table."""
    tp = sum(r["tp"] for r in table.values())
    predicted = sum(r["predicted"] for r in table.values())
    support = sum(r["support"] for r in table.values())
    p = tp / predicted if predicted else 0.0
    r = tp / support if support else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def constant_predictions(gold: dict[str, set[str]], topic: str) -> dict[str, set[str]]:
    """The constant predictor: `topic` for every article."""
    return {a: {topic} for a in gold}


def shuffled(sets: dict[str, set[str]], ids: list[str], seed: int) -> dict[str, set[str]]:
    """A random predictor with exactly the label distribution of `sets`: the same sets dealt to other articles."""
    dealt = [sets.get(a, set()) for a in ids]
    random.Random(seed).shuffle(dealt)
    return dict(zip(ids, dealt))


def _random_mean(gold, sets, topics) -> tuple[dict[str, dict[str, float]], dict[str, float], dict[str, float]]:
    """Mean per-topic table and micro figures of `sets` dealt at random over RANDOM_SEEDS seeds, plus the micro spread."""
    ids = sorted(gold)
    tables = [per_topic(gold, shuffled(sets, ids, seed), topics) for seed in range(RANDOM_SEEDS)]
    mean = {t: {k: _nanmean([tb[t][k] for tb in tables]) for k in ("precision", "recall")} for t in topics}
    micros = [micro(tb) for tb in tables]
    avg = {k: sum(m[k] for m in micros) / len(micros) for k in ("precision", "recall", "f1")}
    spread = {k: max(m[k] for m in micros) - min(m[k] for m in micros) for k in ("precision", "recall", "f1")}
    return mean, avg, spread


def _nanmean(values: list[float]) -> float:
    defined = [v for v in values if not math.isnan(v)]
    return sum(defined) / len(defined) if defined else float("nan")


def _fmt(x: float) -> str:
    return "   -" if math.isnan(x) else f"{x:.2f}"


def _print_per_topic(gold: dict[str, set[str]], scored: pl.DataFrame, topics: list[str], title: str) -> dict:
    """Print the scorer (>= CONFIDENT and top topic), the constant and two random predictors per topic; return the figures."""
    n = len(gold)
    pred = predicted_sets(scored, CONFIDENT)
    pred = {a: pred.get(a, set()) for a in gold}
    top = top_topics(scored)
    top1 = {a: {top[a]} if a in top else set() for a in gold}
    table = per_topic(gold, pred, topics)
    table_top1 = per_topic(gold, top1, topics)
    rand_gold, rand_gold_micro, rand_gold_spread = _random_mean(gold, gold, topics)
    rand_pred, rand_pred_micro, _ = _random_mean(gold, pred, topics)
    print(f"\n== {title}")
    print(f"  {n} articles; scorer = topics with score >= {CONFIDENT}; top1 = the top-ranked topic only;")
    print("  constant = 'always this topic' (precision = the topic's share, recall 1);")
    print(f"  random = the gold label sets dealt to other articles (same label distribution), mean of {RANDOM_SEEDS} seeds;")
    print(f"  shuffled = the scorer's own >= {CONFIDENT} sets dealt to other articles (same predicted distribution)")
    print(f"  {'topic':<30} {'supp':>4} {'pred':>4} | {'scorer P':>8} {'R':>5} | {'top1 P':>6} {'R':>5} | "
          f"{'const P':>7} | {'random P':>8} {'R':>5} | {'shuffled P':>10} {'R':>5}")
    for t in topics:
        r, r1, rg, rp = table[t], table_top1[t], rand_gold[t], rand_pred[t]
        if r["support"] == 0 and r["predicted"] == 0:
            continue
        print(f"  {t:<30} {r['support']:>4} {r['predicted']:>4} | {_fmt(r['precision']):>8} {_fmt(r['recall']):>5} | "
              f"{_fmt(r1['precision']):>6} {_fmt(r1['recall']):>5} | {r['support'] / n:>7.2f} | "
              f"{_fmt(rg['precision']):>8} {_fmt(rg['recall']):>5} | {_fmt(rp['precision']):>10} {_fmt(rp['recall']):>5}")
    scorer_micro, top1_micro = micro(table), micro(table_top1)
    best = max(topics, key=lambda t: table[t]["support"])
    const_micro = micro(per_topic(gold, constant_predictions(gold, best), topics))
    print(f"  micro P/R/F1: scorer {scorer_micro['precision']:.3f}/{scorer_micro['recall']:.3f}/{scorer_micro['f1']:.3f}, "
          f"top1 {top1_micro['precision']:.3f}/{top1_micro['recall']:.3f}/{top1_micro['f1']:.3f}, "
          f"constant '{best}' {const_micro['precision']:.3f}/{const_micro['recall']:.3f}/{const_micro['f1']:.3f}, "
          f"random {rand_gold_micro['precision']:.3f}/{rand_gold_micro['recall']:.3f}/{rand_gold_micro['f1']:.3f} "
          f"(spread over seeds {rand_gold_spread['f1']:.3f} F1), "
          f"shuffled {rand_pred_micro['precision']:.3f}/{rand_pred_micro['recall']:.3f}/{rand_pred_micro['f1']:.3f}")
    weak = [t for t in topics if table[t]["support"] >= WEAK_MIN_SUPPORT
            and not (table[t]["precision"] >= WEAK_BELOW and table[t]["recall"] >= WEAK_BELOW)]
    print(f"  weak (precision or recall < {WEAK_BELOW} with >= {WEAK_MIN_SUPPORT} gold articles): "
          + (", ".join(f"{t} (P {_fmt(table[t]['precision'])}, R {_fmt(table[t]['recall'])})" for t in weak) or "none"))
    return {"table": table, "micro": scorer_micro, "top1_micro": top1_micro, "constant_micro": const_micro,
            "random_micro": rand_gold_micro, "shuffled_micro": rand_pred_micro}


def one_to_one_gold(corpus: pl.DataFrame) -> dict[str, set[str]]:
    """article_id -> {the fpwatch topic its AllSides label maps to}, for the labels in ONE_TO_ONE only."""
    return {a: {ONE_TO_ONE[g][0]} for a, g in zip(corpus["article_id"].to_list(), corpus["gold"].to_list()) if g in ONE_TO_ONE}


def _one_to_one_report(corpus: pl.DataFrame, taxonomy, calibration_ids: set[str]) -> None:
    print("\n== AllSides labels mapped one to one (only where the meaning is the same)")
    for label, (topic, why) in ONE_TO_ONE.items():
        print(f"  {label:<16} -> {topic:<26} {why}")
    counts = Counter(corpus["gold"].to_list())
    left = sum(c for g, c in counts.items() if g not in ONE_TO_ONE)
    print(f"  left out: {len(counts) - len(ONE_TO_ONE)} labels, {left} of {corpus.height} articles: "
          + "; ".join(f"{g} ({counts.get(g, 0)}: {why})" for g, why in LEFT_OUT.items()))
    gold = one_to_one_gold(corpus)
    mapped = corpus.filter(pl.col("article_id").is_in(list(gold)))
    scored = score_topics(mapped.select("article_id", "title", "body"), taxonomy)
    topics = sorted({t for g in gold.values() for t in g})
    _print_per_topic(gold, scored, topics, f"Per-topic figures on the {len(gold)} mapped AllSides articles (one gold "
                     "topic each: a right second topic counts against precision, so precision is a lower bound)")
    held = {a: g for a, g in gold.items() if a not in calibration_ids}
    _print_per_topic(held, scored.filter(pl.col("article_id").is_in(list(held))), topics,
                     f"The same without the {len(gold) - len(held)} articles of the default 500-article sample the "
                     "scorer's calibration was audited on")


def read_hand_labels(path: Path = HAND_LABELS) -> list[dict[str, str]]:
    """Rows of the hand-label fixture (comment lines skipped); raises ValueError on a wrong header."""
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(line for line in fh if not line.startswith("#"))
        if reader.fieldnames != HAND_LABEL_COLUMNS:
            raise ValueError(f"{path.name}: expected columns {HAND_LABEL_COLUMNS}, found {reader.fieldnames}")
        return list(reader)


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def hand_sample(corpus: pl.DataFrame, path: Path = HAND_LABELS) -> tuple[pl.DataFrame, dict[str, set[str]], list[str]]:
    """(articles, article_id -> hand topics, problems) for the hand-labelled sample; an article whose text or
    evidence sentence no longer hashes as recorded is left out and named in `problems`."""
    rows = read_hand_labels(path)
    texts = dict(zip(corpus["article_id"].to_list(), corpus["body"].to_list()))
    gold: dict[str, set[str]] = {}
    bad: dict[str, str] = {}
    for row in rows:
        aid = row["article_id"]
        text = texts.get(aid)
        if text is None:
            bad[aid] = "not in the corpus"
        elif _sha1(text) != row["article_sha1"]:
            bad[aid] = "text changed"
        elif row["topic"] and _sha1(text[int(row["evidence_start"]):int(row["evidence_end"])]) != row["evidence_sha1"]:
            bad[aid] = f"evidence for {row['topic']} moved"
        gold.setdefault(aid, set())
        if row["topic"]:
            gold[aid].add(row["topic"])
    gold = {a: g for a, g in gold.items() if a not in bad}
    articles = corpus.filter(pl.col("article_id").is_in(list(gold)))
    return articles, gold, [f"{a}: {why}" for a, why in sorted(bad.items())]


def evidence_agreement(articles: pl.DataFrame, scored: pl.DataFrame, path: Path = HAND_LABELS) -> tuple[int, int]:
    """(hits, n): of the hand labels the scorer also assigns >= CONFIDENT, how many of its evidence passages
    overlap the hand-picked evidence sentence."""
    texts = dict(zip(articles["article_id"].to_list(), articles["body"].to_list()))
    evidence = {(r["article_id"], r["topic"]): r["evidence"]
                for r in scored.filter(pl.col("score") >= CONFIDENT).iter_rows(named=True)}
    hits = n = 0
    for row in read_hand_labels(path):
        key = (row["article_id"], row["topic"])
        if key not in evidence or row["article_id"] not in texts:
            continue
        n += 1
        start = texts[row["article_id"]].find(evidence[key])
        hits += start >= 0 and start < int(row["evidence_end"]) and start + len(evidence[key]) > int(row["evidence_start"])
    return hits, n


def _hand_sample_report(corpus: pl.DataFrame, taxonomy, path: Path, role: str) -> None:
    articles, gold, problems = hand_sample(corpus, path)
    if problems:
        print(f"\n(hand labels: {len(problems)} articles left out, their text no longer matches: {'; '.join(problems)})")
    scored = score_topics(articles.select("article_id", "title", "body"), taxonomy)
    topics = [t.topic for t in taxonomy.topics]
    labels = sum(len(g) for g in gold.values())
    _print_per_topic(gold, scored, topics, f"Per-topic figures on the hand-labelled sample, {role} ({path.name}: "
                     f"{len(gold)} articles, {labels} topic labels, {sum(not g for g in gold.values())} with none)")
    sweep = []
    for threshold in SWEEP_THRESHOLDS:
        m = micro(per_topic(gold, {a: predicted_sets(scored, threshold).get(a, set()) for a in gold}, topics))
        sweep.append(f">= {threshold}: {m['precision']:.3f}/{m['recall']:.3f}/{m['f1']:.3f}")
    ranked = scored.filter(pl.col("rank") <= 2).group_by("article_id").agg("topic")
    top2 = micro(per_topic(gold, {a: set(t) for a, t in ranked.iter_rows()}, topics))
    sweep.append(f"top two: {top2['precision']:.3f}/{top2['recall']:.3f}/{top2['f1']:.3f}")
    print(f"  micro P/R/F1 by cut-off (reported, not tuned: {labels / len(gold):.2f} hand topics per article, the scorer "
          f"assigns {sum(len(v) for v in predicted_sets(scored, CONFIDENT).values()) / len(gold):.2f} at >= {CONFIDENT}): "
          + "; ".join(sweep))
    false_cues: dict[str, Counter] = defaultdict(Counter)
    for row in scored.filter(pl.col("score") >= CONFIDENT).iter_rows(named=True):
        if row["topic"] not in gold[row["article_id"]]:
            false_cues[row["topic"]].update(row["matched_cues"])
    print(f"  cues most often behind the >= {CONFIDENT} assignments the hand labels do not have:")
    for topic, cues in sorted(false_cues.items(), key=lambda kv: -sum(kv[1].values()))[:8]:
        print(f"    {topic:<30} " + ", ".join(f"{c} {k}" for c, k in cues.most_common(8)))
    hits, n = evidence_agreement(articles, scored, path)
    print(f"  evidence: for {hits} of {n} hand labels the scorer also assigns, its evidence overlaps the hand-picked sentence")


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
    if repeat <= 0:
        return
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
    parser.add_argument("--sample", type=int, default=DEFAULT_SAMPLE, help="AllSides articles to sample (default 500)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="sampling seed (default 7)")
    parser.add_argument("--show", type=int, default=25, help="sampled articles to print with their topics (default 25)")
    parser.add_argument("--audit", type=int, default=0, help="print N random >= 0.5 assignments with evidence")
    parser.add_argument("--repeat", type=int, default=2, help="speed runs over the whole corpus, best kept (default 2; 0 skips)")
    args = parser.parse_args()

    taxonomy = load_taxonomy()
    print(f"taxonomy {taxonomy.version}: {len(taxonomy.topics)} topics, "
          f"{sum(len(t.cues) for t in taxonomy.topics)} cues, {len(taxonomy.ignore)} ignore phrases")
    _print_seeds(taxonomy)

    corpus_path = _eval_dir(args.eval_dir) / CORPUS
    if not corpus_path.exists():
        print(f"\n(no eval corpus at {corpus_path}: skipping the AllSides agreement and the per-topic figures on "
              "the mapped labels and the hand-labelled sample; speed on the seeds only)")
        _speed(pl.concat([_seed_frame()] * 200).with_row_index("n").with_columns(
            pl.format("{}-{}", "article_id", "n").alias("article_id")), taxonomy, args.repeat)
        return
    corpus = _corpus_frame(corpus_path)
    sample = load_sample(_eval_dir(args.eval_dir), args.sample, args.seed)
    rng = random.Random(args.seed + 1)
    scored = score_topics(sample.select("article_id", "title", "body"), taxonomy)
    _agreement(sample, scored, args.show)
    _audit(sample, scored, args.audit, rng)
    calibration = corpus[_sample_rows(corpus.height, DEFAULT_SAMPLE, DEFAULT_SEED)]["article_id"].to_list()
    _one_to_one_report(corpus, taxonomy, set(calibration))
    _hand_sample_report(corpus, taxonomy, HAND_LABELS_DEV, "tuning part (topics.toml changes are tuned here)")
    _hand_sample_report(corpus, taxonomy, HAND_LABELS, "HELD OUT (never tuned on)")
    _speed(corpus, taxonomy, args.repeat)


if __name__ == "__main__":
    main()
