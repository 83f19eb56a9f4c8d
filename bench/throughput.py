"""Throughput of the cleaning path (prepare_articles) on large corpora; prints articles/s.

Text docs: the AllSides JSONL (``content_original``) from ../shared/eval/corpus/; HTML docs: the
HTML pages under ../shared/eval/extraction/. Evaluation data comes from --eval-dir,
$FPWATCH_EVAL_DIR or ../shared/eval, and the script skips cleanly when it is absent.

Usage: .venv/bin/python bench/throughput.py [--eval-dir DIR] [--limit N] [--batch 500] [--pipeline N] [--stages N]

The second table runs the whole pipeline (clean, metadata, entities, topics, duplicates, stories,
partition writes) through the same Prefect flow code as `fpwatch run`, on N AllSides articles with
their dates as ` date` headers, into a temporary warehouse; Prefect's server start is not timed.

The third table (--stages N) times each transform of a batch on N AllSides articles in this process
(what one transform-batch task does, same batch size): cleaning, entities (spaCy NER), events
(spaCy parser on the sentences that need it), tone, topics, signatures; it prints what event coding
and tone add to the rest (issue 10: at most 30 %), events per 1,000 articles and the share of
events whose actor and target both resolve to a country.
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


def measure_stages(docs: pl.DataFrame, batch: int) -> dict:
    """Seconds per transform stage over `docs` in batches, as transform_batch runs them (one process)."""
    from transforms.dedup import compute_signatures
    from transforms.entities import extract_entities, load_ner_pipeline
    from transforms.events import extract_events, load_lexicon, load_parser
    from transforms.gazetteer import load_gazetteer
    from transforms.tone import score_tone
    from transforms.topics import load_taxonomy, score_topics

    nlp, parser, gaz, taxonomy = load_ner_pipeline(), load_parser(), load_gazetteer(), load_taxonomy()
    load_lexicon()
    secs = dict.fromkeys(("clean", "entities", "events", "tone", "topics", "signatures"), 0.0)
    events, n_articles = [], 0

    def timed(stage, fn, *args, **kwargs):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        secs[stage] += time.perf_counter() - t0
        return out

    for i in range(0, docs.height, batch):
        prepared = timed("clean", prepare_articles, docs.slice(i, batch))
        good = prepared.filter(pl.col("reject_reason").is_null()).with_row_index("n").with_columns(
            article_id=pl.format("a{}-{}", pl.lit(i), pl.col("n")))
        n_articles += good.height
        mentions, entities = timed("entities", extract_entities, good.select("article_id", "title", "body"), nlp, gaz)
        events.append(timed("events", extract_events, good.select("article_id", "body"), mentions, entities, parser))
        timed("tone", score_tone, good["body"].to_list())
        timed("topics", score_topics, good.select("article_id", "title", "body"), taxonomy)
        timed("signatures", compute_signatures, good.select("article_id", "body"))
    ev = pl.concat(events)
    rest = sum(v for k, v in secs.items() if k not in ("events", "tone"))
    both = ev.filter(pl.col("actor_country").is_not_null() & pl.col("target_country").is_not_null()).height
    return {"articles": n_articles, "seconds": secs, "added": (secs["events"] + secs["tone"]) / rest,
            "events": ev.height, "per_1000": 1000 * ev.height / max(n_articles, 1),
            "both_countries": both / max(ev.height, 1),
            "stated": ev.filter(~pl.col("negated") & pl.col("modality").is_in(["asserted", "reported"])).height,
            "by_quad": dict(ev.group_by("quad").len().sort("len", descending=True).iter_rows())}


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
    ap.add_argument("--stages", type=int, default=0, help="AllSides articles for the per-stage timing (0: skip)")
    ap.add_argument("--skip-cleaning", action="store_true", help="do not run the cleaning-path table")
    args = ap.parse_args(argv)
    eval_dir = find_eval_dir(args.eval_dir)
    if not (eval_dir / "corpus").is_dir() or not (eval_dir / "extraction").is_dir():
        print(f"skipped: no evaluation data at {eval_dir}")
        return 0
    if not args.skip_cleaning:
        print(f"{'corpus':<28}{'docs':>7}{'seconds':>10}{'articles/s':>12}{'rejected':>10}{'words':>11}")
    for name, docs in () if args.skip_cleaning else (
            ("allsides (text)", load_text_docs(eval_dir, args.limit)),
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
    if args.stages:
        r = measure_stages(load_text_docs(eval_dir, args.stages, with_dates=True), args.batch)
        total = sum(r["seconds"].values())
        print(f"\ntransform stages on {r['articles']} AllSides articles (one process, batches of {args.batch}):")
        for stage, secs in r["seconds"].items():
            print(f"  {stage:<12}{secs:>8.1f} s  {100 * secs / total:>5.1f} %")
        print(f"  events + tone add {100 * r['added']:.1f} % to the other transforms")
        print(f"  {r['events']} events ({r['per_1000']:.0f} per 1,000 articles; {r['stated']} not negated and "
              f"asserted or reported); both actor and target resolved to a country: {100 * r['both_countries']:.1f} %")
        print(f"  by quad: {r['by_quad']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
