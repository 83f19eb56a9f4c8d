"""Body-extraction benchmark: fpwatch's HTML path vs plain ``trafilatura.extract()``.

Reads ../shared/eval/extraction (or $FPWATCH_EVAL_DIR/extraction, or --eval-dir) and prints a table:

* newspaper4k (HTML + gold body text): word 4-gram shingle precision and recall, each averaged
  over pages, and the F1 of the two averages (the article-extraction-benchmark scoring); plus the
  count of leftover boilerplate lines (output lines with fewer than half of their shingles in the
  gold);
* trafilatura_en (HTML + snippets): share of ``with`` snippets kept, share of ``without`` snippets
  removed, and the count of output lines holding a ``without`` snippet.

Usage: .venv/bin/python bench/extraction.py [--eval-dir DIR] [--variants fpwatch,trafilatura,...]
Skips cleanly (exit 0) when the evaluation data is absent.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import polars as pl
import trafilatura

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transforms import extract as extract_mod  # noqa: E402
from transforms.articles import prepare_articles  # noqa: E402
from _evaldata import eval_dir as find_eval_dir  # noqa: E402  (bench/ is on sys.path when a bench runs)

_TOKEN = re.compile(r"\w+")
SHINGLE_N = 4
# A line whose shingles are less than half in the gold counts as a leftover boilerplate line.
LEFTOVER_MAX_OVERLAP = 0.5




def _shingles(text: str, n: int = SHINGLE_N) -> Counter:
    tokens = _TOKEN.findall(text or "")
    return Counter(tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens[i : i + n])


def shingle_counts(gold: str, pred: str) -> tuple[float, float, float]:
    """Per-page (tp, fp, fn) over word 4-gram shingles, normalised to sum to 1."""
    g, p = _shingles(gold), _shingles(pred)
    tp = sum((g & p).values())
    fp = sum((p - g).values())
    fn = sum((g - p).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def averaged_prf(counts: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    """Precision and recall averaged over pages, F1 of the two averages."""

    def prec(tp: float, fp: float, fn: float) -> float:
        return 1.0 if fp == fn == 0 else (0.0 if tp == fp == 0 else tp / (tp + fp))

    def rec(tp: float, fp: float, fn: float) -> float:
        return 1.0 if fp == fn == 0 else (0.0 if tp == fn == 0 else tp / (tp + fn))

    ps = [prec(*c) for c in counts if c[0] + c[1] > 0]
    rs = [rec(*c) for c in counts if c[0] + c[2] > 0]
    p = sum(ps) / len(ps) if ps else 0.0
    r = sum(rs) / len(rs) if rs else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def leftover_lines(gold: str, pred: str) -> int:
    """Output lines that are mostly absent from the gold body."""
    gold_sh = set(_shingles(gold))
    gold_flat = " " + " ".join(_TOKEN.findall(gold)) + " "
    n = 0
    for line in (pred or "").split("\n"):
        tokens = _TOKEN.findall(line)
        if not tokens:
            continue
        if len(tokens) < SHINGLE_N:
            n += f" {' '.join(tokens)} " not in gold_flat
            continue
        sh = set(_shingles(line))
        n += len(sh & gold_sh) / len(sh) < LEFTOVER_MAX_OVERLAP
    return n


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text or "").strip()


def load_pages(eval_dir: Path) -> tuple[list[dict], list[dict]]:
    """(newspaper4k pages with gold text, trafilatura_en pages with snippets)."""
    n4, tr = [], []
    base = eval_dir / "extraction" / "newspaper4k"
    for html in sorted((base / "html").glob("*.html")):
        gold = base / "txt" / f"{html.stem}.txt"
        if gold.exists():
            n4.append({"name": html.name, "html": html.read_text(encoding="utf-8", errors="replace"),
                       "gold": gold.read_text(encoding="utf-8", errors="replace"), "url": None})
    tdir = eval_dir / "extraction" / "trafilatura_en"
    meta = json.loads((tdir / "evaldata_en.json").read_text(encoding="utf-8"))
    for url, item in sorted(meta.items()):
        path = tdir / "html" / item["file"]
        if path.exists():
            tr.append({"name": item["file"], "html": path.read_text(encoding="utf-8", errors="replace"),
                       "url": url, "with": item["with"], "without": item["without"]})
    return n4, tr


def run_fpwatch(pages: list[dict]) -> list[str]:
    """Our HTML path on a batch (same entry point as the flow: prepare_articles)."""
    docs = pl.DataFrame(
        {"source": [p["name"] for p in pages], "kind": ["html"] * len(pages),
         "content": [p["html"] for p in pages], "url": [p["url"] for p in pages]},
        schema={"source": pl.String, "kind": pl.String, "content": pl.String, "url": pl.String},
    )
    return prepare_articles(docs)["body"].to_list()


def _variants() -> dict[str, Callable[[list[dict]], list[str]]]:
    def plain(pages: list[dict]) -> list[str]:
        return [trafilatura.extract(p["html"], url=p["url"], include_comments=False) or "" for p in pages]

    def plain_precision(pages: list[dict]) -> list[str]:
        return [trafilatura.extract(p["html"], url=p["url"], include_comments=False, favor_precision=True) or ""
                for p in pages]

    def ours_no_preclean(pages: list[dict]) -> list[str]:
        original = extract_mod.preclean_html
        extract_mod.preclean_html = lambda tree: tree
        try:
            return run_fpwatch(pages)
        finally:
            extract_mod.preclean_html = original

    def ours_precision(pages: list[dict]) -> list[str]:
        extract_mod.FAVOR_PRECISION = True
        try:
            return run_fpwatch(pages)
        finally:
            extract_mod.FAVOR_PRECISION = False

    return {
        "trafilatura": plain,
        "trafilatura+precision": plain_precision,
        "fpwatch": run_fpwatch,
        "fpwatch-no-preclean": ours_no_preclean,
        "fpwatch+precision": ours_precision,
    }


def score(name: str, fn: Callable[[list[dict]], list[str]], n4: list[dict], tr: list[dict]) -> dict:
    """Run one variant on both sets and return its figures."""
    t0 = time.perf_counter()
    out_n4 = fn(n4)
    out_tr = fn(tr)
    secs = time.perf_counter() - t0
    p, r, f1 = averaged_prf([shingle_counts(pg["gold"], out) for pg, out in zip(n4, out_n4)])
    left_n4 = sum(leftover_lines(pg["gold"], out) for pg, out in zip(n4, out_n4))
    kept = total_with = removed = total_without = left_tr = 0
    for pg, out in zip(tr, out_tr):
        flat = _norm(out)
        kept += sum(_norm(w) in flat for w in pg["with"])
        total_with += len(pg["with"])
        removed += sum(_norm(w) not in flat for w in pg["without"])
        total_without += len(pg["without"])
        lines = [_norm(x) for x in out.split("\n")]
        left_tr += sum(any(_norm(w) in line for w in pg["without"]) for line in lines if line)
    return {"variant": name, "n4_precision": p, "n4_recall": r, "n4_f1": f1, "n4_leftover_lines": left_n4,
            "tr_with_kept": kept / total_with, "tr_without_removed": removed / total_without,
            "tr_leftover_lines": left_tr, "pages_per_s": (len(n4) + len(tr)) / secs}


def main(argv: list[str] | None = None) -> int:
    """Print the benchmark table; 0 also when the evaluation data is absent (skipped)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eval-dir", help="evaluation data folder (default ../shared/eval or $FPWATCH_EVAL_DIR)")
    ap.add_argument("--variants", default="trafilatura,fpwatch",
                    help="comma list of: " + ",".join(_variants()))
    args = ap.parse_args(argv)
    eval_dir = find_eval_dir(args.eval_dir)
    if not (eval_dir / "extraction").is_dir():
        print(f"skipped: no evaluation data at {eval_dir}/extraction")
        return 0
    n4, tr = load_pages(eval_dir)
    print(f"pages: newspaper4k {len(n4)} (gold text), trafilatura_en {len(tr)} (snippets)")
    variants = _variants()
    rows = [score(name, variants[name], n4, tr) for name in args.variants.split(",")]
    header = (f"{'variant':<24}{'P':>7}{'R':>7}{'F1':>7}{'leftover':>10}"
              f"{'with kept':>11}{'w/o removed':>13}{'leftover':>10}{'pages/s':>9}")
    print(f"{'':<24}{'--- newspaper4k (4-gram shingles) ---':<31}{'--- trafilatura_en snippets ---':<34}")
    print(header)
    for row in rows:
        print(f"{row['variant']:<24}{row['n4_precision']:>7.3f}{row['n4_recall']:>7.3f}{row['n4_f1']:>7.3f}"
              f"{row['n4_leftover_lines']:>10d}{row['tr_with_kept']:>11.3f}{row['tr_without_removed']:>13.3f}"
              f"{row['tr_leftover_lines']:>10d}{row['pages_per_s']:>9.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
