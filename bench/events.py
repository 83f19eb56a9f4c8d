"""Events against the relations annotated in re3d (data nobody on the team wrote).

re3d (``<eval>/ner/re3d/<source>/``, dstl/re3d) annotates relations between entity spans in
foreign-affairs documents. Five of its relation types are interactions between actors; they are
mapped to the quad an analyst would file them under:

  CommWith        -> verbal_cooperation   (communicated with: met, talked, consulted: CONSULT)
  Likes           -> verbal_cooperation   (praised, welcomed, supported: SUPPORT)
  AlliesOf        -> material_cooperation (acts together with, is allied to: COOPERATE)
  Dislikes        -> verbal_conflict      (condemned, criticised, opposed: ACCUSE)
  FightingAgainst -> material_conflict    (attacked, fought, targeted: ASSAULT)

Their other types (CoLocated, IsSynonymOf, BelongsTo, InChargeOf, HasAttrOf, Apart) are not events.

Scoring: a gold item is (document, source span, target span, quad), directed source -> target. A
predicted event matches when its actor mention overlaps the source span, its target mention
overlaps the target span and the quad is the same; each gold item and each prediction is matched
once. Predictions are the pipeline's events (entities from transforms.entities on the raw document
text, then transforms.events), deduplicated on (document, actor span, target span, quad). Precision
counts every prediction against the gold, and re3d does not annotate every relation in a document,
so it is a lower bound. Also reported: "pair" (directed pair right, any quad) and the baseline
"every ordered pair of the pipeline's actor-like entities in one sentence, with the most frequent
gold quad of the tuning split".

Splits: ``UK Government`` is the tuning split (the only one looked at while writing the lexicon and
rules); the other sources are held out and reported separately.

Usage: .venv/bin/python bench/events.py [--eval-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _evaldata import eval_dir as find_eval_dir  # noqa: E402
from transforms.entities import extract_entities, load_ner_pipeline, split_sentences  # noqa: E402
from transforms.events import ACTOR_KINDS, QUADS, extract_events, load_parser  # noqa: E402
from transforms.gazetteer import load_gazetteer  # noqa: E402

RELATION_QUADS = {
    "CommWith": "verbal_cooperation",
    "Likes": "verbal_cooperation",
    "AlliesOf": "material_cooperation",
    "Dislikes": "verbal_conflict",
    "FightingAgainst": "material_conflict",
}
TUNING = ("UK Government",)


def _jsonl(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def read_split(folder: Path) -> tuple[dict[str, str], list[tuple]]:
    """Documents (id -> text) and gold items (doc, source span, target span, quad) of one re3d source."""
    docs = {d["_id"]: d["text"] for d in _jsonl(folder / "documents.json")}
    gold = set()
    for r in _jsonl(folder / "relations.json"):
        quad = RELATION_QUADS.get(r["type"])
        if quad and r["documentId"] in docs:
            gold.add((r["documentId"], (r["sourceBegin"], r["sourceEnd"]), (r["targetBegin"], r["targetEnd"]), quad))
    return docs, sorted(gold)


def predict(docs: dict[str, str], nlp, parser, gaz) -> tuple[list[tuple], list[tuple]]:
    """(events, baseline pairs) as (doc, actor span, target span, quad|None)."""
    ids = list(docs)
    arts = pl.DataFrame({"article_id": ids, "title": [None] * len(ids), "body": [docs[i] for i in ids]},
                        schema={"article_id": pl.String, "title": pl.String, "body": pl.String})
    mentions, entities = extract_entities(arts, nlp, gaz)
    events = extract_events(arts.select("article_id", "body"), mentions, entities, parser)
    preds = {(r["article_id"], (r["actor_start"], r["actor_end"]), (r["target_start"], r["target_end"]), r["quad"])
             for r in events.iter_rows(named=True)}
    kinds = dict(zip(entities["entity_id"], entities["kind"]))
    by_sentence = defaultdict(list)
    for m in mentions.iter_rows(named=True):
        if kinds.get(m["entity_id"]) in ACTOR_KINDS and m["mention_kind"] != "modifier":
            by_sentence[(m["article_id"], m["sentence_index"])].append(m)
    pairs = set()
    for (doc, _), ms in by_sentence.items():
        for a in ms:
            for b in ms:
                if a["entity_id"] != b["entity_id"]:
                    pairs.add((doc, (a["start_char"], a["end_char"]), (b["start_char"], b["end_char"]), None))
    return sorted(preds), sorted(pairs)


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def score(preds: list[tuple], gold: list[tuple], *, use_quad: bool = True) -> tuple[int, int, int]:
    """(matched, predicted, gold): greedy one-to-one matching by overlapping spans (and quad)."""
    used: set[int] = set()
    matched = 0
    gold_by_doc = defaultdict(list)
    for i, g in enumerate(gold):
        gold_by_doc[g[0]].append(i)
    for doc, actor, target, quad in preds:
        for i in gold_by_doc.get(doc, ()):
            if i in used:
                continue
            _, src, tgt, gquad = gold[i]
            if _overlap(actor, src) and _overlap(target, tgt) and (not use_quad or quad == gquad):
                used.add(i)
                matched += 1
                break
    return matched, len(preds), len(gold)


def prf(m: int, p: int, g: int) -> str:
    precision = m / p if p else 0.0
    recall = m / g if g else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return f"P {precision:5.3f}  R {recall:5.3f}  F1 {f1:5.3f}  (matched {m}, predicted {p}, gold {g})"


def main(argv: list[str] | None = None) -> int:
    """Print precision, recall and F1 of directed pairs with the right quad, tuned and held out."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eval-dir")
    args = ap.parse_args(argv)
    root = find_eval_dir(args.eval_dir) / "ner" / "re3d"
    if not root.is_dir():
        print(f"skipped: no re3d data at {root}")
        return 0
    nlp, parser, gaz = load_ner_pipeline(), load_parser(), load_gazetteer()
    splits: dict[str, tuple[list, list, list]] = {"tuned": ([], [], []), "held-out": ([], [], [])}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        docs, gold = read_split(folder)
        preds, pairs = predict(docs, nlp, parser, gaz)
        name = "tuned" if folder.name in TUNING else "held-out"
        for bucket, items in zip(splits[name], (preds, pairs, gold)):
            bucket.extend(items)
        print(f"{folder.name}: {len(docs)} documents, {len(gold)} gold interactions, {len(preds)} events")
    tuned_gold = splits["tuned"][2]
    majority = Counter(g[3] for g in tuned_gold).most_common(1)[0][0]
    print(f"\nbaseline quad (most frequent in the tuning split): {majority}")
    for name, (preds, pairs, gold) in splits.items():
        print(f"\n== {name} ({', '.join(TUNING) if name == 'tuned' else 'the other re3d sources'})")
        print(f"  events, pair + quad   {prf(*score(preds, gold))}")
        print(f"  events, pair only     {prf(*score(preds, gold, use_quad=False))}")
        base = [(d, a, t, majority) for d, a, t, _ in pairs]
        print(f"  baseline, pair + quad {prf(*score(base, gold))}")
        print(f"  baseline, pair only   {prf(*score(base, gold, use_quad=False))}  <- recall ceiling: gold pairs "
              "whose both ends are entities of the pipeline in one sentence")
        for quad in QUADS:
            p_q = [p for p in preds if p[3] == quad]
            g_q = [g for g in gold if g[3] == quad]
            b_q = [b for b in base if b[3] == quad]
            print(f"    {quad:<21} events   {prf(*score(p_q, g_q))}")
            if b_q:
                print(f"    {'':<21} baseline {prf(*score(b_q, g_q))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
