"""One person across batches: what `resolve-people` joins on real articles, and a sample to check by hand.

    .venv/bin/python bench/people_resolution.py [--eval-dir DIR] [--articles 2000] [--seed 12]
                                                [--chunk 1000] [--batch 500] [--check 30]

The pipeline links entities per transform batch (`Settings.batch_size`, 500), so a person written
"Anthony Smith" in one batch and "Tony Smith" or "Smith" in another were two entities until the
chunk-level `transforms.people.resolve_people`. This runs ``extract_entities`` batch by batch on a
deterministic AllSides sample (the same one as ``bench/entity_coverage.py``) and resolves each chunk
of batches as the pipeline does, against the chunks before it (standing in for the warehouse); it
prints distinct PERSON entities before/after and ``--check`` random joins (names only, no text).
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def main(argv: list[str] | None = None) -> int:
    from entity_coverage import add_sample_args, sample_articles

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_sample_args(ap)
    ap.add_argument("--chunk", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--check", type=int, default=30)
    args = ap.parse_args(argv)

    from transforms.entities import extract_entities, load_ner_pipeline
    from transforms.gazetteer import load_gazetteer
    from transforms.people import apply_remap, resolve_people

    articles = sample_articles(args)
    if articles is None:
        return 0
    nlp, gaz = load_ner_pipeline(), load_gazetteer()
    cols = ["entity_id", "entity_type", "canonical_name"]
    stored = pl.DataFrame(schema={c: pl.Utf8 for c in cols})
    before, after, joins = [], [], []
    for start in range(0, articles.height, args.chunk):
        chunk = articles.slice(start, args.chunk)
        parts = [extract_entities(chunk.slice(o, args.batch), nlp, gaz) for o in range(0, chunk.height, args.batch)]
        mentions = pl.concat([m for m, _ in parts])
        people = pl.concat([e for _, e in parts]).filter(pl.col("entity_type") == "PERSON").select(cols)
        people = people.unique("entity_id", keep="first", maintain_order=True)
        before.append(mentions.join(people.select("entity_id"), on="entity_id"))
        weights = dict(mentions.group_by("entity_id").len().iter_rows())
        remap = resolve_people(people, weights, stored)
        names = dict(pl.concat([stored, people]).select("entity_id", "canonical_name").iter_rows())
        joins += [(names[a], names[b], "warehouse" if b in set(stored["entity_id"]) else "chunk")
                  for a, b in remap.items()]
        after.append(apply_remap(before[-1], remap, "entity_id"))
        stored = pl.concat([stored, people.filter(~pl.col("entity_id").is_in(list(remap)))]).unique(
            "entity_id", keep="first")
    n_before = pl.concat(before)["entity_id"].n_unique()
    n_after = pl.concat(after)["entity_id"].n_unique()
    print(f"{articles.height} AllSides articles (seed {args.seed}), chunks of {args.chunk}, batches of {args.batch}")
    print(f"distinct PERSON entities: {n_before} linked per batch, {n_after} after resolve-people "
          f"({len(joins)} ids joined another: {sum(j[2] == 'chunk' for j in joins)} within a chunk, "
          f"{sum(j[2] == 'warehouse' for j in joins)} a stored person)")
    picked = random.Random(args.seed).sample(joins, min(args.check, len(joins)))
    print(f"\n{len(picked)} random joins (new name -> the person it joined), to check by hand:")
    for new, old, where in picked:
        print(f"  {new!r} -> {old!r} ({where})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
