"""CPU seconds of entity linking (extract_entities without the NER model) and of the gazetteer load.

The entity stage is spaCy NER (~95 % of it) plus linking; this bench times the two apart so a change
to the linking code or the gazetteer shows above the NER's noise: NER runs once, then
``extract_entities`` runs ``--reps`` times on the same docs and the fastest run counts. The
gazetteer load (``load_gazetteer`` plus the first use of its matchers) is timed in fresh processes.
CPU time (getrusage), not wall time: the machine is shared. For an A/B, run it from two worktrees
on the same articles, alternating. Data: the AllSides JSONL under --eval-dir (skips cleanly without).

Usage: .venv/bin/python bench/linking_speed.py [--limit 300] [--reps 3] [--eval-dir DIR]
(docs/gazetteer.md "Speed" has the figures before and after issue 12, item 7.)
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _evaldata import eval_dir as find_eval_dir  # noqa: E402
from throughput import load_text_docs  # noqa: E402

from transforms.articles import prepare_articles  # noqa: E402
from transforms.entities import extract_entities, load_ner_pipeline  # noqa: E402
from transforms.entity_rules import soften_shouting  # noqa: E402
from transforms.gazetteer import load_gazetteer, normalize_key  # noqa: E402

_LOAD = (
    "import resource, sys; sys.path.insert(0, {repo!r}); from transforms.gazetteer import load_gazetteer\n"
    "c = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2]); t = c(); g = load_gazetteer()\n"
    "g.find('warm up'); g.find_large_cities('Aleppo', 1_000_000); print(c() - t)"
)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Replay:
    """Stands in for the spaCy pipeline: the docs it already made, in order (the texts are still
    read, so soften_shouting counts as linking)."""

    def __init__(self, docs):
        self.docs, self.max_length = docs, 1_000_000

    def pipe(self, texts, batch_size=None, n_process=1):
        for _, doc in zip(texts, self.docs):
            yield doc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eval-dir")
    ap.add_argument("--limit", type=int, default=300, help="AllSides articles (default 300)")
    ap.add_argument("--reps", type=int, default=3, help="linking runs; the fastest counts")
    args = ap.parse_args(argv)
    eval_dir = find_eval_dir(args.eval_dir)
    if not (eval_dir / "corpus").is_dir():
        print(f"skipped: no evaluation data at {eval_dir}")
        return 0
    docs = load_text_docs(eval_dir, args.limit, with_dates=True)
    good = prepare_articles(docs).filter(pl.col("reject_reason").is_null()).with_row_index("n")
    good = good.with_columns(article_id=pl.format("a{}", pl.col("n")))
    good = good.select("article_id", "title", "body", "published_date")
    nlp, gaz = load_ner_pipeline(), load_gazetteer()
    t0 = _cpu()
    ner_docs = list(nlp.pipe((soften_shouting(b or "") for b in good["body"]), batch_size=32))
    ner = _cpu() - t0
    linking = []
    for _ in range(args.reps):
        gaz.__dict__.pop("_find_cache", None)  # cold caches each run
        normalize_key.cache_clear()
        t0 = _cpu()
        mentions, _ = extract_entities(good, _Replay(ner_docs), gaz)
        linking.append(_cpu() - t0)
    repo = str(Path(__file__).resolve().parents[1])
    loads = sorted(
        float(subprocess.run([sys.executable, "-c", _LOAD.format(repo=repo)], capture_output=True, text=True,
                             check=True).stdout)
        for _ in range(3)
    )
    per = 1000 / good.height
    print(f"{good.height} AllSides articles, {mentions.height} mentions; CPU s per 1,000 articles:")
    print(f"  NER (spaCy)  {ner * per:7.2f}")
    print(f"  linking      {min(linking) * per:7.2f}   (runs: {', '.join(f'{x * per:.2f}' for x in linking)})")
    print(f"gazetteer load with first use: {loads[1]:.3f} CPU s (median of 3 processes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
