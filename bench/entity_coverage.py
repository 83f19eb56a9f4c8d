"""How many people in real foreign-policy news get a Wikidata id, and which names to curate next.

    .venv/bin/python bench/entity_coverage.py [--eval-dir DIR] [--articles 2000] [--seed 12]
                                              [--top 40] [--merges 30] [--json-out FILE]

Runs ``extract_entities`` on a deterministic sample of AllSides articles and prints:
- person mentions (names, family names and nominal "the secretary") and the share whose entity
  carries a Wikidata id; distinct PERSON entities;
- the most frequent PERSON and ORG entities without a Wikidata id (the curation worklist) and
  the most frequent PERSON/ORG names in the re3d development documents (``bench/ner.py``'s split);
- ``--merges`` random entities written in several ways in the sample, to check by hand that each
  is one real-world entity (the article text itself is not printed).

``--repo DIR`` imports ``transforms`` from another checkout (the figures before a change).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent


def load_articles(corpus: Path, n: int, seed: int) -> pl.DataFrame:
    """A deterministic sample of n AllSides articles: article_id, body."""
    with gzip.open(corpus, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    picked = sorted(random.Random(seed).sample(range(len(rows)), min(n, len(rows))))
    return pl.DataFrame(
        {"article_id": [str(i) for i in picked], "body": [rows[i].get("content_original") or "" for i in picked]}
    )


def add_sample_args(ap: argparse.ArgumentParser) -> None:
    """The AllSides sample's options, shared with bench/people_resolution.py."""
    ap.add_argument("--eval-dir")
    ap.add_argument("--articles", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=12)


def sample_articles(args: argparse.Namespace) -> pl.DataFrame | None:
    """The deterministic AllSides sample the options name, or None (with a line) without the corpus."""
    from _evaldata import eval_dir

    corpus = eval_dir(args.eval_dir) / "corpus" / "allsides_foreign_policy.jsonl.gz"
    if not corpus.exists():
        print(f"AllSides corpus not found, skipped: {corpus}")
        return None
    return load_articles(corpus, args.articles, args.seed)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_sample_args(ap)
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--merges", type=int, default=30)
    ap.add_argument("--repo", help="import transforms from this checkout instead of this one")
    ap.add_argument("--json-out")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(Path(args.repo).resolve() if args.repo else HERE.parent))
    from transforms.entities import extract_entities, load_ner_pipeline
    from transforms.gazetteer import load_gazetteer

    sys.path.insert(0, str(HERE))
    from _evaldata import eval_dir

    articles = sample_articles(args)
    if articles is None:
        return 0
    nlp, gaz = load_ner_pipeline(), load_gazetteer()
    t0 = time.perf_counter()
    mentions, entities = extract_entities(articles, nlp, gaz)
    secs = time.perf_counter() - t0
    joined = mentions.join(entities, on="entity_id", how="left")
    people = joined.filter(pl.col("entity_type") == "PERSON")
    with_id = people.filter(pl.col("wikidata_id").is_not_null()).height
    out = {
        "articles": articles.height,
        "seconds": round(secs, 1),
        "person_mentions": people.height,
        "person_mentions_with_wikidata": with_id,
        "share_with_wikidata": round(with_id / max(people.height, 1), 4),
        "distinct_person_entities": people["entity_id"].n_unique(),
    }
    print(f"{out['articles']} AllSides articles (seed {args.seed}) in {out['seconds']} s")
    print(f"person mentions: {out['person_mentions']}, with a Wikidata id: {with_id} "
          f"({out['share_with_wikidata']:.1%}); distinct PERSON entities: {out['distinct_person_entities']}")

    for etype in ("PERSON", "ORG"):
        top = (
            joined.filter((pl.col("entity_type") == etype) & pl.col("wikidata_id").is_null())
            .group_by("canonical_name").len().sort("len", descending=True).head(args.top)
        )
        print(f"\nmost frequent {etype} without a Wikidata id (mentions):")
        print("  " + "; ".join(f"{r['canonical_name']} {r['len']}" for r in top.iter_rows(named=True)))
        out[f"top_{etype.lower()}_without_id"] = top.rows()

    re3d = eval_dir(args.eval_dir) / "ner" / "re3d"
    if re3d.exists():
        import ner as ner_bench  # bench/ner.py

        texts, gold = ner_bench.read_re3d(re3d, gaz, "dev")
        names = Counter(
            (t, text[s:e]) for text, spans in zip(texts, gold) for s, e, t in spans if t in ("PER", "ORG")
        )
        print("\nmost frequent PER/ORG names in the re3d development documents:")
        print("  " + "; ".join(f"{name} ({t}) {n}" for (t, name), n in names.most_common(args.top)))

    forms = (
        joined.filter(pl.col("entity_type").is_in(["PERSON", "ORG"]) & (pl.col("mention_kind") != "nominal"))
        .group_by("entity_id", "canonical_name")
        .agg(pl.col("surface").unique().sort().alias("forms"), pl.col("article_id").n_unique().alias("articles"))
        .filter(pl.col("forms").list.len() > 1)
        .sort("entity_id")
    )
    rows = forms.rows(named=True)
    picked = random.Random(args.seed).sample(rows, min(args.merges, len(rows)))
    print(f"\n{len(picked)} random entities written in several ways ({len(rows)} in all), to check by hand:")
    for r in picked:
        print(f"  {r['canonical_name']!r} ({r['articles']} articles): {' | '.join(r['forms'][:8])}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(out, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
