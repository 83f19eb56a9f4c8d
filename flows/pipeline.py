"""The shared pipeline: raw documents in, every warehouse table out. Used by run, fetch and reprocess.

Batches, not rows: documents are cut into batches of `Settings.batch_size`; one task transforms a
batch (clean, metadata, entities, topics, signatures), one task links the whole run's articles to
what the warehouse already holds (duplicates, stories), one task writes the partitions.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass, field
from functools import lru_cache

import polars as pl
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from flows.locks import partition_locks
from flows.runs import RunContext
from flows.settings import Settings
from flows.warehouse import Reject, Warehouse
from transforms import PIPELINE_VERSION
from transforms.articles import prepare_articles
from transforms.dedup import compute_signatures, find_duplicates
from transforms.entities import extract_entities, load_ner_pipeline
from transforms.gazetteer import load_gazetteer
from transforms.ids import article_identity, stable_id
from transforms.stories import assign_stories, summarize_stories
from transforms.topics import load_taxonomy, score_topics, taxonomy_frame

#: Below this many articles spaCy's multiprocessing costs more (each worker loads the model, ~2 s)
#: than it saves; above it two processes nearly double NER throughput on this 2-core machine.
MIN_ARTICLES_FOR_NER_PROCESSES = 400

#: Worker processes for transforms when there are several batches: one per core, at most 2 on
#: this machine (24 GB leaves room for more on bigger ones: set FPWATCH_TRANSFORM_WORKERS).
MAX_AUTO_WORKERS = 2

#: One BLAS/OpenMP thread per worker process: two processes on two cores, not four threads.
WORKER_THREAD_LIMITS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

PARTITIONED_OUTPUTS = ("raw_inputs", "mentions", "article_topics", "article_signatures", "articles")


@dataclass
class BatchResult:
    """What one transform task produced."""

    articles: pl.DataFrame
    raw: pl.DataFrame
    mentions: pl.DataFrame
    entities: pl.DataFrame
    topics: pl.DataFrame
    signatures: pl.DataFrame
    rejects: list[Reject] = field(default_factory=list)


@lru_cache(maxsize=2)
def _nlp(model: str | None):
    return load_ner_pipeline(model)


def _ner_processes(settings: Settings, n_articles: int) -> int:
    if settings.ner_processes == 1 or n_articles < MIN_ARTICLES_FOR_NER_PROCESSES:
        return 1
    return settings.ner_processes or 2


def _transform_workers(settings: Settings, n_batches: int) -> int:
    if n_batches < 2:
        return 1
    wanted = settings.transform_workers or min(MAX_AUTO_WORKERS, os.cpu_count() or 1)
    return max(1, min(wanted, n_batches))


def transform_in_parallel(batches: list[pl.DataFrame], settings: Settings, workers: int) -> list[BatchResult]:
    """Transform batches in `workers` processes (a Dask cluster), each loading spaCy once.

    Each batch is still one Prefect task run; the processes only let the two cores work at once
    (spaCy, trafilatura and the cleaners hold the GIL most of the time, so threads would not).
    """
    from prefect.client.orchestration import get_client
    from prefect_dask import DaskTaskRunner

    # Workers must report to this run's Prefect API: without the URL each worker would start an
    # ephemeral server of its own (measured: 3 servers fighting for 2 cores and one SQLite file).
    env = {"PREFECT_API_URL": str(get_client(sync_client=True).api_url), **WORKER_THREAD_LIMITS}
    runner = DaskTaskRunner(
        cluster_kwargs={
            "n_workers": workers, "threads_per_worker": 1, "processes": True, "dashboard_address": None, "env": env,
        }
    )
    single = settings.model_copy(update={"ner_processes": 1})
    return _transform_subflow.with_options(task_runner=runner)(batches, single)


@flow(name="transform-batches", log_prints=True)
def _transform_subflow(batches: list[pl.DataFrame], settings: Settings) -> list[BatchResult]:
    logger = get_run_logger()
    futures = [transform_batch.submit(batch, settings) for batch in batches]
    total = sum(b.height for b in batches)
    started, done = time.monotonic(), 0
    for i, future in enumerate(futures, start=1):
        future.wait()
        done += batches[i - 1].height
        rate = done / max(time.monotonic() - started, 1e-9)
        logger.info("transformed batch %d/%d: %d/%d documents (%.1f/s)", i, len(batches), done, total, rate)
    return [f.result() for f in futures]


def assign_ids(docs: pl.DataFrame) -> pl.DataFrame:
    """Add article_id (stable hash of the input identity); keep the first of repeated inputs."""
    ids = [
        stable_id(article_identity(s, h, u))
        for s, h, u in zip(docs["source"], docs["raw_sha256"], docs["url"], strict=True)
    ]
    return docs.with_columns(pl.Series("article_id", ids, dtype=pl.Utf8)).unique("article_id", keep="first", maintain_order=True)


@task(name="transform-batch", cache_policy=NO_CACHE)
def transform_batch(docs: pl.DataFrame, settings: Settings) -> BatchResult:
    """Clean a batch of documents and extract metadata, entities, topics and duplicate signatures."""
    prepared = prepare_articles(docs.select("source", "kind", "content", "url"))
    prepared = prepared.drop([c for c in prepared.columns if c in ("source",)])
    merged = pl.concat([docs, prepared], how="horizontal")
    bad = merged.filter(pl.col("reject_reason").is_not_null())
    rejects = [Reject(s, r, d or "") for s, r, d in bad.select("source", "reject_reason", "reject_detail").iter_rows()]
    good = merged.filter(pl.col("reject_reason").is_null())
    n_proc = _ner_processes(settings, good.height)
    mentions, entities = extract_entities(
        good.select("article_id", "title", "body"), _nlp(settings.ner_model), load_gazetteer(), n_process=n_proc
    )
    topics = score_topics(good.select("article_id", "title", "body"), load_taxonomy())
    signatures = compute_signatures(good.select("article_id", "body"))
    raw = good.select("article_id", "source", "kind", "url", "content", "raw_sha256", "first_seen_at")
    articles = good.drop("content", "kind", "raw_sha256", "reject_reason", "reject_detail")
    return BatchResult(articles, raw, mentions, entities, topics, signatures, rejects)


def _existing_articles(warehouse: Warehouse, ids: list[str]) -> pl.DataFrame:
    return (
        warehouse.scan("articles")
        .filter(pl.col("article_id").is_in(ids))
        .select("article_id", pl.col("partition_date").alias("old_partition"), pl.col("story_id").alias("old_story"))
        .collect()
    )


def _first_seen(warehouse: Warehouse, ids: list[str]) -> pl.DataFrame:
    return (
        warehouse.scan("raw_inputs")
        .filter(pl.col("article_id").is_in(ids))
        .group_by("article_id")
        .agg(pl.col("first_seen_at").min().dt.convert_time_zone("UTC").alias("old_first_seen"))
        .collect()
    )


def _candidate_signatures(warehouse: Warehouse, signatures: pl.DataFrame, ids: list[str]) -> pl.DataFrame:
    """Stored signatures of earlier articles that share a content hash or an LSH band with the new ones."""
    keys = signatures.select(pl.col("band_keys").explode().alias("band_key")).unique().drop_nulls()
    hashes = signatures["content_hash"].unique().to_list()
    stored = warehouse.scan("article_signatures").filter(~pl.col("article_id").is_in(ids))
    by_band = (
        stored.select("article_id", pl.col("band_keys").alias("band_key"))
        .explode("band_key")
        .join(keys.lazy(), on="band_key", how="semi")
        .select("article_id")
    )
    by_hash = stored.filter(pl.col("content_hash").is_in(hashes)).select("article_id")
    wanted = pl.concat([by_band, by_hash]).unique()
    return stored.join(wanted, on="article_id", how="semi").collect()


def _entity_lists(mentions: pl.DataFrame) -> pl.DataFrame:
    return mentions.group_by("article_id").agg(pl.col("entity_id").unique().sort().alias("entity_ids"))


def _story_history(warehouse: Warehouse, days: set[dt.date], window: dt.timedelta, exclude: list[str]) -> pl.DataFrame:
    """Articles already in the warehouse within `window` of any of `days` (the open-story window).

    Only the partitions around the batch's own dates are read, never the whole warehouse.
    """
    wanted = sorted({d + dt.timedelta(days=k) for d in days for k in range(-window.days, window.days + 1)})
    history = (
        warehouse.scan("articles")
        .filter(pl.col("partition_date").is_in(wanted) & ~pl.col("article_id").is_in(exclude))
        .filter(pl.col("story_id").is_not_null())
        .select(
            "article_id", "title", "body", "publisher", "duplicate_of", "story_id",
            pl.col("published_date").alias("date"), "partition_date",
        )
        .collect()
    )
    if history.is_empty():
        return history.drop("partition_date").with_columns(pl.lit([], dtype=pl.List(pl.Utf8)).alias("entity_ids"))
    ids = history["article_id"].to_list()
    mentions = (
        warehouse.scan("mentions")
        .filter(pl.col("partition_date").is_in(wanted) & pl.col("article_id").is_in(ids))
        .select("article_id", "entity_id")
        .collect()
    )
    return history.drop("partition_date").join(_entity_lists(mentions), on="article_id", how="left").with_columns(
        pl.col("entity_ids").fill_null(pl.lit([], dtype=pl.List(pl.Utf8)))
    )


@task(name="link-articles", cache_policy=NO_CACHE)
def link_articles(
    articles: pl.DataFrame, signatures: pl.DataFrame, mentions: pl.DataFrame, warehouse: Warehouse,
    settings: Settings, today: dt.date,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Give every article its partition, duplicate_of and story_id against what the warehouse holds.

    Returns (articles, signatures) with partition_date, duplicate_of, story_id and sort_key set.
    """
    ids = articles["article_id"].to_list()
    existing = _existing_articles(warehouse, ids)
    first_seen = _first_seen(warehouse, ids)
    articles = (
        articles.join(existing, on="article_id", how="left")
        .join(first_seen, on="article_id", how="left")
        .with_columns(pl.coalesce("old_first_seen", "first_seen_at").alias("first_seen_at"))
        .with_columns(
            pl.coalesce(
                "published_date", "old_partition", pl.col("first_seen_at").dt.date(), pl.lit(today)
            ).alias("partition_date")
        )
    )
    date = pl.coalesce("published_date", "partition_date")
    articles = articles.with_columns(
        pl.concat_str([date.dt.strftime("%Y-%m-%d"), pl.col("article_id")], separator="|").alias("sort_key")
    )
    signatures = signatures.join(articles.select("article_id", "sort_key", "partition_date"), on="article_id")
    candidates = _candidate_signatures(warehouse, signatures, ids)
    dups = find_duplicates(articles.select("article_id", "body", "sort_key"), signatures, candidates)
    articles = articles.join(dups.select("article_id", "duplicate_of"), on="article_id", how="left")

    # Stories compare articles by their published date; an undated article's first-seen day says
    # little about the event, so it goes in undated and is clustered as of the newest date in the
    # pool (the batch's dated articles plus the open-story window around them and around today).
    window = dt.timedelta(days=settings.story_window_days)
    days = set(articles["published_date"].drop_nulls().unique().to_list())
    if articles["published_date"].null_count():
        days.add(today)
    history = _story_history(warehouse, days, window, ids)
    new = (
        articles.select(
            "article_id", "title", "body", "publisher", "duplicate_of", pl.col("published_date").alias("date"),
            pl.col("old_story").alias("story_id"),
        )
        .join(_entity_lists(mentions), on="article_id", how="left")
        .with_columns(pl.col("entity_ids").fill_null(pl.lit([], dtype=pl.List(pl.Utf8))))
    )
    stories = assign_stories(new, history, window_days=settings.story_window_days)
    articles = articles.join(stories.select("article_id", "story_id"), on="article_id", how="left")
    return articles, signatures


@task(name="write-warehouse", cache_policy=NO_CACHE)
def write_tables(
    articles: pl.DataFrame, results: list[BatchResult], signatures: pl.DataFrame, warehouse: Warehouse, run: RunContext
) -> list[dt.date]:
    """Replace the run's articles in their partitions and update entities, stories, topics and rejects."""
    lineage = {"run_id": pl.lit(run.run_id), "pipeline_version": pl.lit(PIPELINE_VERSION)}
    parts = articles.select("article_id", "partition_date", "old_partition", "first_seen_at")
    moved: dict[dt.date, set[str]] = {}
    for aid, new_day, old_day, _ in parts.iter_rows():
        if old_day is not None and old_day != new_day:
            moved.setdefault(old_day, set()).add(aid)

    def with_partition(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.join(parts.select("article_id", "partition_date"), on="article_id").with_columns(**lineage)

    raw = pl.concat([r.raw for r in results]).drop("first_seen_at").join(
        parts.select("article_id", "first_seen_at"), on="article_id"
    )
    outputs = {
        "raw_inputs": with_partition(raw.drop("partition_date", strict=False)),
        "mentions": with_partition(pl.concat([r.mentions for r in results], how="diagonal_relaxed")),
        "article_topics": with_partition(pl.concat([r.topics for r in results], how="diagonal_relaxed")),
        "article_signatures": signatures.with_columns(**lineage),
        "articles": articles.with_columns(
            pl.col("body").str.len_chars().alias("body_chars"),
            pl.lit(run.started_at).alias("ingested_at"),
            **lineage,
        ),
    }
    touched: set[dt.date] = set()
    for table in PARTITIONED_OUTPUTS:
        frame = outputs[table]
        # Articles that now have no rows in a child table (e.g. no mentions) must lose their old rows.
        remove = {day: set(ids) for day, ids in moved.items()}
        for day, ids in _ids_by_day(parts).items():
            remove.setdefault(day, set()).update(ids)
        touched.update(warehouse.replace_rows(table, frame, remove=remove))

    entities = pl.concat([r.entities for r in results], how="diagonal_relaxed").unique("entity_id", keep="first")
    if entities.height:
        warehouse.replace_whole("entities", entities.with_columns(**lineage), key="entity_id")
    _update_stories(warehouse, articles, run)
    warehouse.replace_whole(
        "topics", taxonomy_frame(load_taxonomy()).with_columns(pipeline_version=pl.lit(PIPELINE_VERSION)), key="topic"
    )
    return sorted(touched)


def _ids_by_day(parts: pl.DataFrame) -> dict[dt.date, set[str]]:
    out: dict[dt.date, set[str]] = {}
    for aid, day in parts.select("article_id", "partition_date").iter_rows():
        out.setdefault(day, set()).add(aid)
    return out


def _update_stories(warehouse: Warehouse, articles: pl.DataFrame, run: RunContext) -> None:
    touched = set(articles["story_id"].drop_nulls().to_list()) | set(articles["old_story"].drop_nulls().to_list())
    if not touched:
        return
    members = (
        warehouse.scan("articles")
        .filter(pl.col("story_id").is_in(list(touched)))
        .select("article_id", "story_id", "title", "publisher", pl.coalesce("published_date", "partition_date").alias("date"))
        .collect()
    )
    summary = summarize_stories(members) if members.height else pl.DataFrame(schema={"story_id": pl.Utf8})
    if summary.height and "last_published" not in summary.columns:
        last = members.group_by("story_id").agg(pl.col("date").max().alias("last_published"))
        summary = summary.join(last, on="story_id", how="left")
    gone = touched - set(summary["story_id"].to_list() if summary.height else [])
    if summary.height:
        lineage = {"run_id": pl.lit(run.run_id), "pipeline_version": pl.lit(PIPELINE_VERSION)}
        warehouse.replace_whole("stories", summary.with_columns(**lineage), key="story_id")
    warehouse.delete_whole("stories", "story_id", gone)


def write_rejects(warehouse: Warehouse, run: RunContext, succeeded: list[str]) -> None:
    warehouse.delete_whole("rejects", "source", succeeded)
    if run.rejects:
        frame = pl.DataFrame(
            [{"source": r.source, "reason": r.reason, "detail": r.detail} for r in run.rejects]
        ).unique("source", keep="last").with_columns(
            run_id=pl.lit(run.run_id),
            rejected_at=pl.lit(dt.datetime.now(dt.timezone.utc)),
            pipeline_version=pl.lit(PIPELINE_VERSION),
        )
        warehouse.replace_whole("rejects", frame, key="source")


def ingest_documents(docs: pl.DataFrame, *, settings: Settings, run: RunContext) -> None:
    """Run the whole pipeline on raw documents and write the warehouse; updates `run` counters.

    docs: source, kind ('html'|'text'), content, url, raw_sha256, first_seen_at. Rejects found on the
    way are added to run.rejects, and run.rejects are written to the `rejects` table at the end.
    """
    logger = get_run_logger()
    warehouse = run.warehouse
    docs = assign_ids(docs)
    run.articles_in += docs.height
    results: list[BatchResult] = []
    batches = [docs.slice(offset, settings.batch_size) for offset in range(0, docs.height, settings.batch_size)]
    workers = _transform_workers(settings, len(batches))
    if workers > 1:
        results = transform_in_parallel(batches, settings, workers)
    else:
        started = time.monotonic()
        done = 0
        for i, batch in enumerate(batches, start=1):
            results.append(transform_batch(batch, settings))
            done += batch.height
            rate = done / max(time.monotonic() - started, 1e-9)
            logger.info("transformed batch %d/%d: %d/%d documents (%.1f/s)", i, len(batches), done, docs.height, rate)
    for result in results:
        run.rejects.extend(result.rejects)
    articles = pl.concat([r.articles for r in results], how="diagonal_relaxed") if results else pl.DataFrame()
    if articles.height:
        signatures = pl.concat([r.signatures for r in results], how="diagonal_relaxed")
        mentions = pl.concat([r.mentions for r in results], how="diagonal_relaxed")
        articles, signatures = link_articles(articles, signatures, mentions, warehouse, settings, run.today)
        days = set(articles["partition_date"].to_list()) | set(articles["old_partition"].drop_nulls().to_list())
        with partition_locks(warehouse, days):  # a backfill of the same day never interleaves with us
            partitions = write_tables(articles, results, signatures, warehouse, run)
        run.partitions.update(partitions)
        run.articles_written += articles.height
        run.duplicates += articles["duplicate_of"].is_not_null().sum()
    write_rejects(warehouse, run, articles["source"].to_list() if articles.height else [])
