"""The shared pipeline: raw documents in, every warehouse table out. One path for every flow.

`run`, `ingest`, `fetch`, `backfill` and `reprocess` all hand their documents to
`process_documents` as an iterable of chunks (`Settings.chunk_size` inputs each). Per chunk:

1. ids: article_id from the input identity; inputs already committed with the same content and
   pipeline version are skipped (so a killed run, run again, finishes only what is missing);
2. transform: batches of `Settings.batch_size` documents, one `transform-batch` task each, in
   worker processes (a local Dask cluster, or the cluster at `FPWATCH_DASK_ADDRESS`);
3. link (`link-articles`): partition, duplicates and stories against what the warehouse holds,
   reading only the rows that matter (ids, band keys, the story window);
4. commit (`commit-chunk`): one DuckLake transaction over every table, tagged with the run id.

Memory is bounded by one chunk, whatever the number of inputs; a reader sees a chunk whole or not
at all; a chunk committed is never redone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import duckdb
import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from flows.pipeline.runs import RunContext
from flows.settings import Settings
from flows.warehouse.store import DERIVED, Reject, Warehouse, conform, date_list, derive, register, replace_rows
from transforms import PIPELINE_VERSION
from transforms.articles import prepare_articles
from transforms.dedup import compute_signatures, find_duplicates
from transforms.people import apply_remap, family_names, resolve_people
from transforms.entities import extract_entities, load_ner_pipeline
from transforms.events import extract_events, load_parser
from transforms.gazetteer import load_gazetteer
from transforms.ids import article_identity, stable_id
from transforms.linking import duplicate_order, place_articles, story_days, story_groups, story_history, story_pool
from transforms.stories import assign_stories, story_terms, summarize_stories
from transforms.tone import score_tone
from transforms.topics import load_taxonomy, score_topics, taxonomy_frame

#: Below this many articles spaCy's multiprocessing costs more (each worker loads the model, ~2 s)
#: than it saves; above it two processes nearly double NER throughput on this 2-core machine.
MIN_ARTICLES_FOR_NER_PROCESSES = 400

#: Worker processes for transforms when there are several batches: one per core, at most 2 on
#: this machine (24 GB leaves room for more on bigger ones: set FPWATCH_TRANSFORM_WORKERS).
MAX_AUTO_WORKERS = 2

#: One BLAS/OpenMP thread per worker process: two processes on two cores, not four threads.
WORKER_THREAD_LIMITS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

#: Tables with one or more rows per article, replaced together when an article is (re)written.
ARTICLE_TABLES = ("raw_inputs", "mentions", "events", "article_topics", "article_signatures", "articles")
#: Tables derived from an article's text: an input the pipeline now rejects loses these rows; its
#: raw input stays, so a later pipeline version can accept it again.
DERIVED_TABLES = ("articles", "mentions", "events", "article_topics", "article_signatures", *DERIVED)


@dataclass
class BatchResult:
    """What one transform task produced."""

    articles: pl.DataFrame
    raw: pl.DataFrame
    mentions: pl.DataFrame
    entities: pl.DataFrame
    topics: pl.DataFrame
    signatures: pl.DataFrame
    events: pl.DataFrame = field(default_factory=pl.DataFrame)
    rejects: list[Reject] = field(default_factory=list)


@dataclass
class ChunkResult:
    """What committing one chunk did (added to the run's counters)."""

    inputs: int = 0
    skipped: int = 0
    written: int = 0
    duplicates: int = 0
    removed: int = 0
    partitions: set[dt.date] = field(default_factory=set)
    snapshot_id: int | None = None


@lru_cache(maxsize=2)
def _nlp(model: str | None):
    return load_ner_pipeline(model)


@lru_cache(maxsize=2)
def _parser(model: str | None):
    return load_parser(model)


def _ner_processes(settings: Settings, n_articles: int) -> int:
    if settings.ner_processes == 1 or n_articles < MIN_ARTICLES_FOR_NER_PROCESSES:
        return 1
    return settings.ner_processes or 2


def _transform_workers(settings: Settings) -> int:
    return settings.transform_workers or min(MAX_AUTO_WORKERS, os.cpu_count() or 1)


def assign_ids(docs: pl.DataFrame) -> pl.DataFrame:
    """Add article_id (stable hash of the input identity); keep the first of repeated inputs."""
    ids = [
        stable_id(article_identity(s, h, u))
        for s, h, u in zip(docs["source"], docs["raw_sha256"], docs["url"], strict=True)
    ]
    return docs.with_columns(pl.Series("article_id", ids, dtype=pl.Utf8)).unique("article_id", keep="first", maintain_order=True)


@task(name="transform-batch", cache_policy=NO_CACHE)
def transform_batch(docs: pl.DataFrame, settings: Settings) -> BatchResult:
    """Clean a batch of documents and extract metadata, tone, entities, events, topics and duplicate signatures."""
    prepared = prepare_articles(docs.select("source", "kind", "content", "url"))
    prepared = prepared.drop([c for c in prepared.columns if c in ("source",)])
    merged = pl.concat([docs, prepared], how="horizontal")
    bad = merged.filter(pl.col("reject_reason").is_not_null())
    rejects = [Reject(s, r, d or "") for s, r, d in bad.select("source", "reject_reason", "reject_detail").iter_rows()]
    good = merged.filter(pl.col("reject_reason").is_null())
    n_proc = _ner_processes(settings, good.height)
    mentions, entities = extract_entities(
        good.select("article_id", "title", "body", *[c for c in ("published_date",) if c in good.columns]),
        _nlp(settings.ner_model), load_gazetteer(), n_process=n_proc,
    )
    events = extract_events(good.select("article_id", "body"), mentions, entities, _parser(settings.ner_model))
    topics = score_topics(good.select("article_id", "title", "body"), load_taxonomy())
    signatures = compute_signatures(good.select("article_id", "body"))
    raw = good.select("article_id", "source", "kind", "url", "content", "raw_sha256", "first_seen_at")
    articles = good.drop("content", "kind", "raw_sha256", "reject_reason", "reject_detail")
    tone = pl.DataFrame(score_tone(articles["body"].to_list()),
                        schema={c: pl.Float64 for c in ("tone", "tone_positive", "tone_negative", "tone_polarity")})
    articles = pl.concat([articles, tone], how="horizontal")
    return BatchResult(articles, raw, mentions, entities, topics, signatures, events, rejects)


# ------------------------------------------------------------------------------ transforming
class Transformer:
    """Runs transform batches: in this process, or on Dask workers (started once per run, lazily).

    Without `Settings.dask_address` a run with several batches starts a local cluster of
    `transform_workers` processes (spaCy and the cleaners hold the GIL: threads would not use the
    cores); with it, batches go to that existing cluster (its workers need fpwatch installed and
    PREFECT_API_URL). Each worker process loads spaCy once (`_nlp` is cached per process and the
    worker processes live on between batches and runs).

    Frames never travel through the scheduler: each batch is scattered straight to a worker (the
    task refers to it by key) and results come back straight from the workers (`direct_to_workers`).
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self._stack = contextlib.ExitStack()
        self._runner = None

    def __enter__(self) -> Transformer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _dask(self):
        if self._runner is None:
            from prefect.client.orchestration import get_client
            from prefect_dask import DaskTaskRunner

            direct = {"direct_to_workers": True}  # results straight from the workers, not via the scheduler
            if self.settings.dask_address:
                runner = DaskTaskRunner(address=self.settings.dask_address, client_kwargs=direct)
            else:
                # Workers report to this run's Prefect API: without the URL each worker would start an
                # ephemeral server of its own (measured: 3 servers fighting for 2 cores and one SQLite file).
                env = {"PREFECT_API_URL": str(get_client(sync_client=True).api_url), **WORKER_THREAD_LIMITS}
                runner = DaskTaskRunner(cluster_kwargs={
                    "n_workers": _transform_workers(self.settings), "threads_per_worker": 1, "processes": True,
                    "dashboard_address": None, "env": env,
                }, client_kwargs=direct)
            self._runner = self._stack.enter_context(runner)
        return self._runner

    def run(self, docs: pl.DataFrame) -> list[BatchResult]:
        """Transform `docs` in batches; logs progress per batch."""
        logger = get_run_logger()
        size = self.settings.batch_size
        batches = [docs.slice(offset, size) for offset in range(0, docs.height, size)]
        parallel = len(batches) > 1 and (self.settings.dask_address or _transform_workers(self.settings) > 1)
        started, done, results = time.monotonic(), 0, []
        if parallel:
            single = self.settings.model_copy(update={"ner_processes": 1})
            runner = self._dask()
            # Scattered: the batch goes from here to one worker; the task carries only its key.
            scattered = runner.client.scatter(batches, direct=True)
            futures = [runner.submit(transform_batch, {"docs": b, "settings": single}) for b in scattered]
        for i, batch in enumerate(batches, start=1):
            results.append(futures[i - 1].result() if parallel else transform_batch(batch, self.settings))
            done += batch.height
            rate = done / max(time.monotonic() - started, 1e-9)
            logger.info("transformed batch %d/%d: %d/%d documents (%.1f/s)", i, len(batches), done, docs.height, rate)
        return results


# ------------------------------------------------------------------------------ reading what is stored
def committed_inputs(warehouse: Warehouse, docs: pl.DataFrame) -> pl.DataFrame:
    """The docs already stored with the same article_id, raw bytes and pipeline version (nothing to redo)."""
    if docs.is_empty():
        return docs.select("article_id")
    return warehouse.query(
        """
        select distinct r.article_id
        from raw_inputs as r
        join _docs as d on d.article_id = r.article_id and d.raw_sha256 is not distinct from r.raw_sha256
        where r.pipeline_version = $version
        """,
        {"version": PIPELINE_VERSION},
        _docs=docs.select("article_id", "raw_sha256"),
    )


def _stored_articles(warehouse: Warehouse, ids: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    existing = warehouse.query(
        "select article_id, partition_date as old_partition, story_id as old_story from articles "
        "where article_id in (select article_id from _ids)", _ids=ids,
    )
    first_seen = warehouse.query(
        "select article_id, min(first_seen_at) as old_first_seen from raw_inputs "
        "where article_id in (select article_id from _ids) group by article_id", _ids=ids,
    ).with_columns(pl.col("old_first_seen").dt.convert_time_zone("UTC"))
    return existing, first_seen


def _candidate_signatures(warehouse: Warehouse, signatures: pl.DataFrame) -> pl.DataFrame:
    """Stored signatures of other articles sharing a content hash or an LSH band key with the new ones.

    Two steps: the ids and partitions of the matches (DuckDB reads only the band_keys, content_hash
    and partition_date columns), then those rows from their partitions only. One query reading the
    matching rows of the whole table took 16 s at 1M articles for 528 matches (every file's other
    columns, story terms included, were opened); by partition it is a few files.
    """
    keys = signatures.select(pl.col("band_keys").explode().alias("band_key")).drop_nulls().unique()
    found = warehouse.query(
        """
        with keys as (select band_key from _keys),
        by_band as (
            select distinct s.article_id, s.partition_date
            from (select article_id, partition_date, unnest(band_keys) as band_key from article_signatures) as s
            semi join keys using (band_key)
        ),
        by_hash as (
            select article_id, partition_date from article_signatures
            where content_hash in (select content_hash from _new)
        )
        select * from (select * from by_band union select * from by_hash)
        where article_id not in (select article_id from _new)
        """,
        _keys=keys, _new=signatures.select("article_id", "content_hash"),
    )
    if not found.height:
        return conform(pl.DataFrame(), "article_signatures")
    frame = warehouse.query(
        f"""
        select article_id, content_hash, minhash, band_keys, sort_key, partition_date
        from article_signatures
        where partition_date in {date_list(found["partition_date"].unique().to_list())}
          and article_id in (select article_id from _found)
        """, _found=found.select("article_id"),
    )
    return conform(frame, "article_signatures")


#: Days of stored articles read in one query pair for story linking: windows of a chunk are read
#: together up to this many days (about two months: ~55,000 articles at 1M over three years, ~0.4 GB
#: of bodies), instead of one query pair per window (100 articles spread over three years made 100
#: windows: 190 s at 1M, bench/warehouse.py) or all windows at once (12 GiB).
HISTORY_BATCH_DAYS = 62


def _read_history(warehouse: Warehouse, days: list[dt.date], exclude: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Stored articles with a story in the partitions `days` with their story terms, and the mentions
    (entity ids) of those stored without terms (an older pipeline): only those are read as text."""
    history = warehouse.query(
        f"""
        select a.article_id, a.duplicate_of, a.story_id, a.published_date as date, a.partition_date,
               s.story_terms, s.story_weights
        from articles as a
        left join article_signatures as s
          on s.article_id = a.article_id and s.partition_date in {date_list(days)}
        where a.partition_date in {date_list(days)} and a.story_id is not null
          and a.article_id not in (select article_id from _ids)
        """, _ids=exclude,
    )
    untermed = history.filter(pl.col("story_terms").is_null()).select("article_id")
    mentions = pl.DataFrame(schema={"article_id": pl.Utf8, "entity_id": pl.Utf8})
    if untermed.height:
        text = warehouse.query(
            f"select article_id, title, body from articles where partition_date in {date_list(days)} "
            "and article_id in (select article_id from _ids)", _ids=untermed,
        )
        history = history.join(text, on="article_id", how="left")
        mentions = warehouse.query(
            f"""
            select m.article_id, m.entity_id
            from mentions as m
            where m.partition_date in {date_list(days)}
              and m.article_id in (select article_id from _hist)
            """, _hist=untermed,
        )
    return history, mentions


def _story_histories(warehouse: Warehouse, windows: list[list[dt.date]], exclude: pl.DataFrame) -> Iterator[pl.DataFrame]:
    """The stored history of each window, in order, read in batches of up to HISTORY_BATCH_DAYS days.

    A generator: one batch's rows are in memory at a time.
    """
    i = 0
    while i < len(windows):
        batch, union = [windows[i]], set(windows[i])
        i += 1
        while i < len(windows) and len(union | set(windows[i])) <= HISTORY_BATCH_DAYS:
            union |= set(windows[i])
            batch.append(windows[i])
            i += 1
        history, mentions = _read_history(warehouse, sorted(union), exclude)
        for days in batch:
            mine = history.filter(pl.col("partition_date").is_in(days)).drop("partition_date")
            yield story_history(mine, mentions.join(mine.select("article_id"), on="article_id", how="semi"))


def resolve_chunk_people(results: list[BatchResult], warehouse: Warehouse) -> list[BatchResult]:
    """One person across the chunk's batches and the warehouse (`transforms.people`): name variants of a
    person found by NER only take one id, the stored one when the warehouse already has that person.
    Part of the chunk's linking (one small query), not a task of its own."""
    entities = pl.concat([r.entities for r in results if r.entities.height], how="diagonal_relaxed") if results else None
    families = family_names(entities) if entities is not None else []
    if not families:
        return results
    stored = warehouse.query(
        """
        select entity_id, entity_type, canonical_name from entities
        where entity_type = 'PERSON' and starts_with(entity_id, 'ner:person:')
          and list_has_any(
                string_split_regex(replace(strip_accents(lower(canonical_name)), '’', ''''), '[\\s.]+'),
                $families)
        """, {"families": families},
    )
    mentions = pl.concat([r.mentions for r in results], how="diagonal_relaxed")
    weights = dict(mentions.group_by("entity_id").len().iter_rows())
    remap = resolve_people(entities, weights, stored)
    if not remap:
        return results
    get_run_logger().info("resolve-people: %d name variants joined a person of the chunk or the warehouse", len(remap))
    return [
        dataclasses.replace(
            r,
            mentions=apply_remap(r.mentions, remap, "entity_id"),
            events=apply_remap(r.events, remap, "actor_entity_id", "target_entity_id"),
            entities=r.entities.filter(~pl.col("entity_id").is_in(list(remap))) if r.entities.height else r.entities,
        )
        for r in results
    ]


@task(name="link-articles", cache_policy=NO_CACHE)
def link_articles(
    articles: pl.DataFrame, signatures: pl.DataFrame, mentions: pl.DataFrame, warehouse: Warehouse,
    settings: Settings, today: dt.date,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Give every article its partition, duplicate_of and story_id against what the warehouse holds.

    Returns (articles, signatures) with partition_date, old_partition, duplicate_of, story_id and sort_key set.
    """
    ids = articles.select("article_id")
    existing, first_seen = _stored_articles(warehouse, ids)
    articles = duplicate_order(place_articles(articles, existing, first_seen, today))
    signatures = signatures.join(articles.select("article_id", "sort_key", "partition_date"), on="article_id")
    candidates = _candidate_signatures(warehouse, signatures)
    dups = find_duplicates(articles.select("article_id", "body", "sort_key"), signatures, candidates)
    articles = articles.join(dups.select("article_id", "duplicate_of"), on="article_id", how="left")
    terms = story_terms(story_pool(articles, mentions))  # stored with the signatures for later runs
    signatures = signatures.join(terms, on="article_id", how="left")
    window = settings.story_window_days
    assigned = []
    groups = story_groups(articles, today, window)  # groups whose windows cannot meet
    histories = _story_histories(warehouse, [story_days(g, today, window) for g in groups], ids)
    for group, history in zip(groups, histories, strict=True):
        pool = story_pool(group, mentions.join(group.select("article_id"), on="article_id", how="semi"))
        pool = pool.join(terms, on="article_id", how="left")
        assigned.append(assign_stories(pool, history, window_days=window).select("article_id", "story_id"))
    stories = pl.concat(assigned) if assigned else pl.DataFrame(schema={"article_id": pl.Utf8, "story_id": pl.Utf8})
    articles = articles.join(stories, on="article_id", how="left")
    return articles, signatures


# ------------------------------------------------------------------------------ committing
def _lineage(run: RunContext) -> dict[str, pl.Expr]:
    return {"run_id": pl.lit(run.run_id), "pipeline_version": pl.lit(PIPELINE_VERSION)}


def _rejects_frame(rejects: list[Reject], run: RunContext) -> pl.DataFrame:
    return pl.DataFrame(
        [{"source": r.source, "reason": r.reason, "detail": r.detail} for r in rejects],
        schema={"source": pl.Utf8, "reason": pl.Utf8, "detail": pl.Utf8},
    ).unique("source", keep="last", maintain_order=True).with_columns(
        run_id=pl.lit(run.run_id), rejected_at=pl.lit(dt.datetime.now(dt.timezone.utc)),
        pipeline_version=pl.lit(PIPELINE_VERSION),
    )


def _write_stories(cur: duckdb.DuckDBPyConnection, touched: list[str], run: RunContext) -> None:
    """Recompute the summaries of the stories a chunk touched, from the articles (own writes included)."""
    if not touched:
        return
    register(cur, _stories=pl.DataFrame({"story_id": touched}, schema={"story_id": pl.Utf8}))
    members = cur.execute(
        """
        select article_id, story_id, title, publisher, coalesce(published_date, partition_date) as date
        from articles where story_id in (select story_id from _stories)
        """
    ).pl()
    summary = summarize_stories(members) if members.height else pl.DataFrame(schema={"story_id": pl.Utf8})
    if summary.height and "last_published" not in summary.columns:
        last = members.group_by("story_id").agg(pl.col("date").max().alias("last_published"))
        summary = summary.join(last, on="story_id", how="left")
    replace_rows(cur, "stories", summary.with_columns(**_lineage(run)) if summary.height else summary,
                 key="story_id", keys=touched)


def write_rejects(cur: duckdb.DuckDBPyConnection, run: RunContext, rejects: list[Reject], succeeded: Iterable[str]) -> None:
    """Inside a transaction: inputs that now succeeded leave `rejects`; new rejects replace old ones."""
    frame = _rejects_frame(rejects, run)
    replace_rows(cur, "rejects", frame, key="source", keys=list(succeeded) + frame["source"].to_list())


@task(name="commit-chunk", cache_policy=NO_CACHE)
def commit_chunk(
    articles: pl.DataFrame, results: list[BatchResult], signatures: pl.DataFrame, gone: list[str],
    rejects: list[Reject], warehouse: Warehouse, run: RunContext,
) -> ChunkResult:
    """Write a chunk's rows to every table in one transaction (retried if another writer committed first).

    gone: article ids of inputs that produced no article this time (rejected now): their derived rows go.
    """
    lineage = _lineage(run)
    out = ChunkResult()
    parts = articles.select("article_id", "partition_date", "old_partition", "first_seen_at") if articles.height else None
    frames: dict[str, pl.DataFrame] = {}
    days: set[dt.date] = set()
    if parts is not None:
        days = set(parts["partition_date"].to_list()) | set(parts["old_partition"].drop_nulls().to_list())

        def with_partition(frame: pl.DataFrame) -> pl.DataFrame:
            return frame.join(parts.select("article_id", "partition_date"), on="article_id").with_columns(**lineage)

        raw = pl.concat([r.raw for r in results]).drop("first_seen_at").join(
            parts.select("article_id", "first_seen_at"), on="article_id"
        )
        frames = {
            "raw_inputs": with_partition(raw),
            "mentions": with_partition(pl.concat([r.mentions for r in results], how="diagonal_relaxed")),
            "events": with_partition(pl.concat([r.events for r in results if r.events.width], how="diagonal_relaxed"))
            if any(r.events.width for r in results) else pl.DataFrame(),
            "article_topics": with_partition(pl.concat([r.topics for r in results], how="diagonal_relaxed")),
            "article_signatures": signatures.with_columns(**lineage),
            "articles": articles.with_columns(
                pl.col("body").str.len_chars().alias("body_chars"), pl.lit(run.started_at).alias("ingested_at"), **lineage,
            ),
        }
    entities = pl.concat([r.entities for r in results], how="diagonal_relaxed") if results else pl.DataFrame()
    entities = entities.unique("entity_id", keep="first").with_columns(**lineage) if entities.height else entities
    ids = articles["article_id"].to_list() if articles.height else []
    touched_stories = (
        sorted(set(articles["story_id"].drop_nulls().to_list()) | set(articles["old_story"].drop_nulls().to_list()))
        if articles.height else []
    )

    n_duplicates = int(articles["duplicate_of"].is_not_null().sum()) if articles.height else 0

    def work(cur: duckdb.DuckDBPyConnection) -> None:
        for table in ARTICLE_TABLES if frames else ():
            replace_rows(cur, table, frames[table], key="article_id", keys=ids, days=days)
        if gone:
            register(cur, _gone=pl.DataFrame({"k": gone}, schema={"k": pl.Utf8}))
            gone_stories = cur.execute(
                "select distinct story_id from articles where article_id in (select k from _gone) and story_id is not null"
            ).fetchall()
            for table in DERIVED_TABLES:
                cur.execute(f'delete from "{table}" where article_id in (select k from _gone)')
            cur.execute(
                "update raw_inputs set run_id = $run, pipeline_version = $version where article_id in (select k from _gone)",
                {"run": run.run_id, "version": PIPELINE_VERSION},
            )
            touched_stories.extend(s for (s,) in gone_stories if s not in touched_stories)
        if entities.height:
            replace_rows(cur, "entities", entities, key="entity_id", keys=entities["entity_id"].to_list())
        for table in DERIVED if frames else ():  # from the rows just written, in the same commit
            replace_rows(cur, table, pl.DataFrame(), key="article_id", keys=ids, days=days)
            derive(cur, table, ids, days)
        _write_stories(cur, touched_stories, run)
        write_rejects(cur, run, rejects, articles["source"].to_list() if articles.height else [])
        run_row = run.row("running")  # with this chunk's counts: the row and the rows commit together
        run_row["articles_written"] += len(ids)
        run_row["duplicates"] += n_duplicates
        replace_rows(cur, "runs", pl.DataFrame([run_row], schema_overrides={"partitions": pl.List(pl.Date)}),
                     key="run_id", keys=[run.run_id])

    run.partitions.update(days)  # the `runs` row written in the same commit lists them
    run.chunks += 1
    tag = {"run_id": run.run_id, "chunk": run.chunks}
    warehouse.commit(work, what=f"run {run.run_id} chunk {run.chunks}: {len(ids)} articles", tag=tag)
    out.snapshot_id = warehouse.tagged_snapshot(tag)
    out.written = len(ids)
    out.duplicates = n_duplicates
    out.removed = len(gone)
    out.partitions = days
    return out


# ------------------------------------------------------------------------------ the one path
def chunked(frame: pl.DataFrame, size: int) -> Iterator[pl.DataFrame]:
    """Slices of `size` rows (documents already in memory, e.g. one day's raw inputs)."""
    for offset in range(0, frame.height, size):
        yield frame.slice(offset, size)


def process_documents(
    chunks: Iterable[pl.DataFrame], *, settings: Settings, run: RunContext, force: bool = False,
) -> None:
    """Run the whole pipeline on chunks of raw documents, committing each chunk; updates `run`.

    docs: source, kind ('html'|'text'), content, url, raw_sha256, first_seen_at. `force` re-transforms
    inputs that are already committed (reprocess, backfill); otherwise they are skipped. Rejects found
    by the source before a chunk (run.rejects) are committed with the next chunk.
    """
    logger = get_run_logger()
    warehouse = run.warehouse
    with Transformer(settings) as transformer:
        for number, docs in enumerate(chunks, start=1):
            started = time.monotonic()
            result = _process_chunk(docs, transformer, warehouse, settings, run, force)
            run.articles_written += result.written
            run.duplicates += result.duplicates
            run.skipped += result.skipped
            if result.removed:
                run.notes.append(f"{result.removed} articles removed (their inputs are now rejected)")
            if result.snapshot_id is not None:
                run.snapshots.append(result.snapshot_id)
            logger.info(
                "chunk %d: %d inputs, %d skipped (already committed), %d written, %d duplicates, snapshot %s, %.1f s",
                number, result.inputs, result.skipped, result.written, result.duplicates, result.snapshot_id,
                time.monotonic() - started,
            )
    if run.pending_rejects():  # rejects found outside any chunk (e.g. every input unreadable)
        flush_rejects(run)


def flush_rejects(run: RunContext) -> None:
    """Commit the run's rejects not yet written (with the `runs` row)."""
    pending = run.pending_rejects()

    def work(cur: duckdb.DuckDBPyConnection) -> None:
        write_rejects(cur, run, pending, [])
        replace_rows(cur, "runs", pl.DataFrame([run.row("running")], schema_overrides={"partitions": pl.List(pl.Date)}),
                     key="run_id", keys=[run.run_id])

    run.warehouse.commit(work, what="commit of rejects")
    run.rejects_written = len(run.rejects)


def _process_chunk(
    docs: pl.DataFrame, transformer: Transformer, warehouse: Warehouse, settings: Settings, run: RunContext, force: bool,
) -> ChunkResult:
    docs = assign_ids(docs) if docs.height else docs.with_columns(article_id=pl.lit(None, pl.Utf8))
    result = ChunkResult(inputs=docs.height)
    run.articles_in += docs.height
    if not force and docs.height:
        done = committed_inputs(warehouse, docs)
        if done.height:
            docs = docs.join(done, on="article_id", how="anti")
            result.skipped = done.height
    if docs.is_empty() and not run.pending_rejects():
        return result
    results = transformer.run(docs) if docs.height else []
    results = resolve_chunk_people(results, warehouse) if results else results
    for batch in results:
        run.rejects.extend(batch.rejects)
    articles = pl.concat([r.articles for r in results], how="diagonal_relaxed") if results else pl.DataFrame()
    signatures = pl.DataFrame()
    if articles.height:
        signatures = pl.concat([r.signatures for r in results], how="diagonal_relaxed")
        mentions = pl.concat([r.mentions for r in results], how="diagonal_relaxed")
        articles, signatures = link_articles(articles, signatures, mentions, warehouse, settings, run.today)
    written = set(articles["article_id"].to_list()) if articles.height else set()
    gone = [a for a in docs["article_id"].to_list() if a not in written] if force else []
    pending = run.pending_rejects()
    committed = commit_chunk(articles, results, signatures, gone, pending, warehouse, run)
    run.rejects_written = len(run.rejects)
    committed.inputs, committed.skipped = result.inputs, result.skipped
    return committed


def write_topics(warehouse: Warehouse) -> None:
    """Store the published taxonomy in `topics` when it is not there in this pipeline version."""
    stored = warehouse.query("select count(*) as n from topics where pipeline_version = $v", {"v": PIPELINE_VERSION})
    taxonomy = taxonomy_frame(load_taxonomy()).with_columns(pipeline_version=pl.lit(PIPELINE_VERSION))
    if stored["n"][0] == taxonomy.height:
        return
    def work(cur: duckdb.DuckDBPyConnection) -> None:
        cur.execute("delete from topics")
        replace_rows(cur, "topics", taxonomy, key="topic", keys=[])

    warehouse.commit(work, what="commit of the topic taxonomy")
