"""Audit the layout rules of ``transforms/entity_rules.py`` on real foreign-affairs headlines.

    .venv/bin/python bench/entity_rules_audit.py [--eval-dir DIR] [--examples 8]

Runs ``explain_layout_spans`` on every AllSides article (title, then the body; held-out for
these rules: none was written from them) and prints, per rule, how often it fires
and examples to check by hand. A layout rule that changes spans on real headlines must be right
there; the figures go in the issue note, the text stays in the eval folder.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench._evaldata import eval_dir  # noqa: E402
from transforms.entity_rules import explain_layout_spans  # noqa: E402
from transforms.gazetteer import load_gazetteer  # noqa: E402


def article_texts(corpus: Path) -> list[str]:
    """Title and body of each article in the AllSides corpus, one text each."""
    texts = []
    with gzip.open(corpus, "rt", encoding="utf-8") as fh:
        for raw in fh:
            art = json.loads(raw)
            texts.append(((art.get("title") or "").strip() + "\n" + (art.get("content_original") or "")).strip())
    return texts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--eval-dir")
    ap.add_argument("--examples", type=int, default=8)
    args = ap.parse_args(argv)
    corpus = eval_dir(args.eval_dir) / "corpus" / "allsides_foreign_policy.jsonl.gz"
    if not corpus.exists():
        print(f"AllSides corpus not found, skipped: {corpus}")
        return 0
    gaz = load_gazetteer()
    lines = article_texts(corpus)
    fired: Counter = Counter()
    examples: dict[str, list[str]] = defaultdict(list)
    for line in lines:
        for (s, e), (label, rule) in explain_layout_spans(line, gaz).items():
            fired[rule] += 1
            if len(examples[rule]) < args.examples:
                ls = line.rfind("\n", 0, s) + 1
                le = line.find("\n", e)
                examples[rule].append(f"{line[s:e]!r} -> {label}   in: {line[ls:le if le >= 0 else None][:110]!r}")
    print(f"{len(lines)} articles (title + body) from {corpus.name}")
    for rule, n in fired.most_common():
        print(f"\n{rule}: fires {n} times")
        for ex in examples[rule]:
            print("   ", ex)
    if not fired:
        print("no layout rule fires")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
