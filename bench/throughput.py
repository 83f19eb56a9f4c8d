"""Throughput of the cleaning path (prepare_articles) on large corpora; prints articles/s.

Text docs: the AllSides JSONL (``content_original``) from ../shared/eval/corpus/; HTML docs: the
HTML pages under ../shared/eval/extraction/. Evaluation data comes from --eval-dir,
$FPWATCH_EVAL_DIR or ../shared/eval, and the script skips cleanly when it is absent.

Usage: .venv/bin/python bench/throughput.py [--eval-dir DIR] [--limit N] [--batch 500] [--pipeline N]

The second table runs the whole pipeline (clean, metadata, entities, topics, duplicates, stories,
partition writes) through the same Prefect flow code as `fpwatch run`, on N AllSides articles with
their dates as ` date` headers, into a temporary warehouse; Prefect's server start is not timed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transforms.articles import prepare_articles  # noqa: E402
from _evaldata import eval_dir as find_eval_dir  # noqa: E402  (bench/ is on sys.path when a bench runs)

SCHEMA = {"source": pl.String, "kind": pl.String, "content": pl.String, "url": pl.String}




def load_text_docs(eval_dir: Path, limit: int, *, with_dates: bool = False) -> pl.DataFrame:
    """AllSides articles as text docs (source = URL, content = content_original).

    with_dates: prefix each text with the ` date YYYY-MM-DD` header the pipeline reads, so articles
    land in their real day partitions and stories see real dates.
    """
    rows = []
    with gzip.open(eval_dir / "corpus" / "allsides_foreign_policy.jsonl.gz", "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i >= limit:
                break
            rec = json.loads(line)
            content = rec.get("content_original") or ""
            if with_dates and rec.get("date_iso"):
                content = f" date {rec['date_iso'][:10]} {content}"
            rows.append({"source": rec.get("url") or f"allsides/{i}", "kind": "text",
                         "content": content, "url": rec.get("url")})
    return pl.DataFrame(rows, schema=SCHEMA)


def load_html_docs(eval_dir: Path, limit: int) -> pl.DataFrame:
    """The evaluation HTML pages (newspaper4k + trafilatura_en) as html docs."""
    paths = sorted((eval_dir / "extraction").glob("*/html/*.html"))[:limit]
    return pl.DataFrame(
        [{"source": str(p.relative_to(eval_dir)), "kind": "html",
          "content": p.read_text(encoding="utf-8", errors="replace"), "url": None} for p in paths],
        schema=SCHEMA,
    )


def measure_cleaning(docs: pl.DataFrame, batch: int) -> dict:
    """Run prepare_articles over docs in batches of `batch`; articles/s and reject counts."""
    t0 = time.perf_counter()
    outs = [prepare_articles(docs.slice(i, batch)) for i in range(0, docs.height, batch)]
    secs = time.perf_counter() - t0
    out = pl.concat(outs) if outs else pl.DataFrame()
    rejected = int(out["reject_reason"].is_not_null().sum()) if out.height else 0
    return {"docs": docs.height, "seconds": secs, "articles_per_s": docs.height / secs if secs else 0.0,
            "rejected": rejected, "words": int(out["word_count"].sum()) if out.height else 0}


def measure_pipeline(docs: pl.DataFrame, batch: int) -> dict:
    """Whole pipeline on `docs` into a temp warehouse, inside a Prefect flow like `fpwatch run`."""
    import datetime as dt
    import hashlib
    import tempfile

    from prefect import flow

    from flows.pipeline.process import chunked, process_documents, write_topics
    from flows.pipeline.runs import finish_run, start_run
    from flows.settings import Settings
    from flows.warehouse.store import Warehouse

    now = dt.datetime.now(dt.timezone.utc)
    docs = docs.with_columns(
        pl.col("content").map_elements(lambda c: hashlib.sha256(c.encode()).hexdigest(), return_dtype=pl.String)
        .alias("raw_sha256"),
        pl.lit(now).alias("first_seen_at"),
    )

    @flow(name="bench-pipeline")
    def bench_flow(root: str) -> dict:
        store = Warehouse(root)
        store.ensure_catalog()
        write_topics(store)
        run = start_run("bench", {}, store)
        t0 = time.perf_counter()
        settings = Settings(batch_size=batch)
        process_documents(chunked(docs, settings.chunk_size), settings=settings, run=run)
        secs = time.perf_counter() - t0
        finish_run(run, "completed")
        return {"seconds": secs, "written": run.articles_written, "rejects": len(run.rejects),
                "duplicates": int(run.duplicates), "partitions": len(run.partitions)}

    with tempfile.TemporaryDirectory() as tmp:
        result = bench_flow(str(Path(tmp) / "wh"))
        con_stats = _warehouse_stats(Path(tmp) / "wh")
    words = int(docs["content"].str.split(" ").list.len().sum())
    result.update(docs=docs.height, articles_per_s=docs.height / result["seconds"],
                  words_per_s=words / result["seconds"], **con_stats)
    return result


def _warehouse_stats(root: Path) -> dict:
    from flows.warehouse.store import Warehouse

    store = Warehouse(root)
    return {"mentions": store.query("select count(*) as n from mentions")["n"][0],
            "stories": store.read("stories").height}


def main(argv: list[str] | None = None) -> int:
    """Print articles/s of the cleaning path for text and HTML docs; skip when data is absent."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eval-dir")
    ap.add_argument("--limit", type=int, default=6000, help="max docs per corpus (default: all)")
    ap.add_argument("--batch", type=int, default=500, help="docs per prepare_articles call (flow batch size)")
    ap.add_argument("--pipeline", type=int, default=1000, help="AllSides articles for the whole-pipeline run (0: skip)")
    args = ap.parse_args(argv)
    eval_dir = find_eval_dir(args.eval_dir)
    if not (eval_dir / "corpus").is_dir() or not (eval_dir / "extraction").is_dir():
        print(f"skipped: no evaluation data at {eval_dir}")
        return 0
    print(f"{'corpus':<28}{'docs':>7}{'seconds':>10}{'articles/s':>12}{'rejected':>10}{'words':>11}")
    for name, docs in (("allsides (text)", load_text_docs(eval_dir, args.limit)),
                       ("extraction pages (html)", load_html_docs(eval_dir, args.limit))):
        r = measure_cleaning(docs, args.batch)
        print(f"{name:<28}{r['docs']:>7}{r['seconds']:>10.1f}{r['articles_per_s']:>12.1f}"
              f"{r['rejected']:>10}{r['words']:>11}")
    if args.pipeline:
        docs = load_text_docs(eval_dir, args.pipeline, with_dates=True)
        r = measure_pipeline(docs, args.batch)
        print("\nwhole pipeline (clean + entities + topics + duplicates + stories + Parquet writes):")
        print(f"  {r['docs']} articles in {r['seconds']:.1f} s: {r['articles_per_s']:.1f} articles/s, "
              f"{r['words_per_s']:.0f} words/s; {r['written']} written, {r['rejects']} rejected, "
              f"{r['duplicates']} duplicates, {r['partitions']} partitions, {r['mentions']} mentions, "
              f"{r['stories']} stories")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
