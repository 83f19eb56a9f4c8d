"""Stories: cross-source clusters of articles that report the same real-world event.

``assign_stories`` clusters a batch of new articles together with the articles already in the
warehouse from the last ``window_days`` days (``history``): a new article joins an existing
story instead of starting a new one; existing stories never merge or change id.

Method (measured on ECB+ dev, ``bench/stories.py``):
1. One TF-IDF vector per article over title + body: content words (stopwords removed, plural
   folded), with extra weight on the evidence that tells two events of the same kind apart:
   capitalised names (people, places), numbers (dates, tolls, magnitudes) and canonical
   ``entity_ids`` from the NER stage. IDF comes from the batch + window pool.
2. Candidates: each article's ``KNN`` nearest neighbours in the pool (sparse product of
   top-``MAX_TERMS`` vectors, so a day costs O(pool x neighbours), never the warehouse).
3. Edge similarity = ``COS_WEIGHT`` x cosine + (1 - ``COS_WEIGHT``) x shared-nearest-neighbour
   overlap (Jarvis-Patrick): two articles about one event share their neighbourhoods; two
   earthquakes share topic words but their neighbourhoods split by place, date and numbers.
4. Average-linkage agglomeration over those edges (missing edges count as 0) until the best
   pair of clusters falls under ``MERGE_THRESHOLD``; clusters holding stored stories are
   locked (two stored stories never merge). Duplicates (``duplicate_of``) join their original.

Story ids are derived from the founding (earliest ``date``, then ``article_id``) article of a
new story; an article passed with a ``story_id`` (a re-run day) keeps it.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import heapq
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
import scipy.sparse as sp

# Figures below: B-cubed F1 on ECB+ dev (bench/stories.py) with one setting changed; 0.951 as set.
# Extra weight of a capitalised (not sentence-initial) token: names and places separate two
# events of the same kind (ECB+ dev: 1 -> 0.952, 3 -> 0.956; small once the overlap is used, but
# on the hand-written fixtures names and numbers at weight 1 drop F1 from 1.0 to 0.95).
NAME_WEIGHT = 2.0
# Extra weight of numbers: years, dates, tolls, magnitudes (ECB+ dev: 1 -> 0.951, 3 -> 0.954).
NUMBER_WEIGHT = 2.0
# Weight of one canonical entity id from the NER stage (a name already counted once as words).
ENTITY_WEIGHT = 2.0
# Title words count this many times: a headline states the event.
TITLE_WEIGHT = 2.0
# Terms kept per article (highest TF-IDF): the neighbour search costs ~MAX_TERMS^2 per article;
# on ECB+ dev (with MAX_BODY_CHARS) 80 cost 0.02 F1, 120-200 gave 0.951-0.952, 300 0.961.
MAX_TERMS = 120
# Body characters read per article: the lede and first paragraphs state the event; the rest of
# a long feature adds cost, not evidence (AllSides mean 5,500 chars); ECB+ dev F1 unchanged
# (0.952 with 3,000 or 4,000 chars, 0.952 uncut).
MAX_BODY_CHARS = 3000
# Neighbours per article for the shared-neighbour overlap: the most sensitive setting, as the
# overlap scale depends on it (ECB+ dev at the same threshold: 5 -> 0.865, 15 -> 0.893).
KNN = 10
# Candidate pairs per article whose cosine enters average linkage (beyond the KNN used for the
# overlap): ECB+ dev 10 -> 0.946 (recall 0.92 instead of 0.95).
CANDIDATES = 30
# A neighbour needs at least this cosine: keeps unrelated articles out of small pools, where
# everyone is everyone's neighbour (ECB+ dev 0.05 -> 0.958, but tiny batches then over-merge).
MIN_NEIGHBOR_COS = 0.1
# Share of cosine in the edge similarity, the rest is the shared-neighbour overlap (ECB+ dev:
# 0.3 -> 0.957, 0.7 -> 0.945, cosine alone 1.0 -> 0.871).
COS_WEIGHT = 0.5
# Average-linkage stop; ECB+ dev B-cubed F1 0.946-0.963 for any value in 0.20-0.28.
MERGE_THRESHOLD = 0.24
# Rows per sparse product block: bounds memory of the neighbour search on big pools.
_ROW_CHUNK = 2048

# A token, optionally preceded by what ends a sentence (then a capital is not a name).
_TOKEN_PATTERN = r"""(?:[.!?:;"“”'‘’`(\[\n—]\s*)?(?:[^\W\d_][\w'’\-]*|\d+(?:[.,:]\d+)*)"""


@dataclasses.dataclass(frozen=True)
class StoryParams:
    """Tunable settings of one clustering call (defaults: the module constants)."""

    name_weight: float = NAME_WEIGHT
    number_weight: float = NUMBER_WEIGHT
    entity_weight: float = ENTITY_WEIGHT
    title_weight: float = TITLE_WEIGHT
    max_terms: int = MAX_TERMS
    max_body_chars: int = MAX_BODY_CHARS
    knn: int = KNN
    candidates: int = CANDIDATES
    min_neighbor_cos: float = MIN_NEIGHBOR_COS
    cos_weight: float = COS_WEIGHT
    merge_threshold: float = MERGE_THRESHOLD


@functools.cache
def load_stopwords() -> tuple[str, ...]:
    """Stopwords for story features (``transforms/data/story_stopwords.csv``)."""
    text = (Path(__file__).resolve().parent / "data" / "story_stopwords.csv").read_text("utf-8")
    return tuple(sorted({row["word"].strip().lower() for row in csv.DictReader(text.splitlines())}))


def story_id_for(article_id: str) -> str:
    """Stable story id derived from the id of the story's founding article."""
    return "st_" + hashlib.sha1(f"story|{article_id}".encode()).hexdigest()[:16]


def _text_terms(texts: pl.Series, p: StoryParams) -> pl.DataFrame:
    """row, term, weight for a column of texts: content words, names and numbers (boosted)."""
    word, low = pl.col("word"), pl.col("low")
    is_num = pl.col("is_num")
    folded = (
        pl.when((low.str.len_chars() > 4) & low.str.ends_with("s") & ~low.str.contains(r"(?:ss|us|is)$"))
        .then(low.str.slice(0, low.str.len_chars() - 1))
        .otherwise(low)
    )
    is_acronym = (word.str.len_chars() > 1) & (word.str.to_uppercase() == word)
    is_name = word.str.contains(r"^\p{Lu}") & ~pl.col("initial")
    return (
        pl.LazyFrame({"text": texts.cast(pl.String).fill_null("")})
        .with_row_index("row")
        .select("row", pl.col("text").str.extract_all(_TOKEN_PATTERN).alias("tok"))
        .explode("tok")
        .drop_nulls("tok")
        .with_columns(
            initial=pl.col("tok").str.contains(r"^[^\w]") | pl.col("row").is_first_distinct(),
            word=pl.col("tok").str.replace(r"^[^\w]+", ""),
        )
        .with_columns(is_num=word.str.contains(r"^\d"))
        .with_columns(word=pl.when(is_num).then(word.str.replace_all(",", ""))
                      .otherwise(word.str.replace(r"['’]s$", "").str.strip_chars("'’-")))
        .with_columns(low=word.str.to_lowercase())
        .filter(low.str.len_chars() >= 2)
        .filter(is_num | ~low.is_in(load_stopwords()) | is_acronym)
        .select(
            pl.col("row").cast(pl.UInt32),
            pl.when(is_num).then(word).otherwise(folded).alias("term"),
            pl.when(is_num).then(pl.lit(p.number_weight, pl.Float64))
            .when(is_name).then(pl.lit(p.name_weight, pl.Float64))
            .otherwise(pl.lit(1.0, pl.Float64)).alias("weight"),
        )
        .collect()
    )


def extract_story_terms(text: str, p: StoryParams = StoryParams()) -> dict[str, float]:
    """Weighted evidence terms of one text (content words, names and numbers boosted)."""
    terms = _text_terms(pl.Series([text]), p).group_by("term").agg(pl.col("weight").sum())
    return dict(zip(terms["term"], terms["weight"]))


def _pool_terms(pool: pl.DataFrame, p: StoryParams) -> pl.DataFrame:
    """row, term, weight over title (x TITLE_WEIGHT), body and entity ids of every pool row."""
    title = _text_terms(pool["title"], p).with_columns(pl.col("weight") * p.title_weight)
    ents = (pool.select(pl.col("entity_ids")).with_row_index("row").explode("entity_ids")
            .drop_nulls("entity_ids")
            .select(pl.col("row").cast(pl.UInt32), ("ent:" + pl.col("entity_ids")).alias("term"),
                    pl.lit(p.entity_weight, pl.Float64).alias("weight")))
    body = pool["body"].cast(pl.String).str.slice(0, p.max_body_chars)
    return (pl.concat([_text_terms(body, p), title, ents])
            .group_by("row", "term").agg(pl.col("weight").sum()))


def story_terms(articles: pl.DataFrame, **params) -> pl.DataFrame:
    """The evidence terms of each article before IDF, to store with it (article_signatures).

    articles: article_id, title, body, entity_ids (list[str], may be absent).
    Returns: article_id, story_terms (list[str], sorted), story_weights (list[f32], same order).
    A stored article's terms are read back instead of re-tokenising its text whenever it is in
    the history window of new articles: the clustering result is the same (the weights are
    small integers, exact in f32). They depend on the weights of ``StoryParams`` and the
    tokeniser: a change to either changes PIPELINE_VERSION, so that reprocess rewrites them.
    """
    p = StoryParams(**params)
    prepared = _prepare(articles, True)
    ids = prepared.select("article_id").with_row_index("row")
    if not prepared.height:
        return pl.DataFrame(schema=STORY_TERMS_SCHEMA)
    terms = (_pool_terms(prepared, p).sort("row", "term")
             .group_by("row", maintain_order=True)
             .agg(pl.col("term").alias("story_terms"), pl.col("weight").cast(pl.Float32).alias("story_weights")))
    return (ids.join(terms, on="row", how="left")
            .select("article_id",
                    pl.col("story_terms").fill_null(pl.lit([], pl.List(pl.String))),
                    pl.col("story_weights").fill_null(pl.lit([], pl.List(pl.Float32))))
            .cast(STORY_TERMS_SCHEMA))


STORY_TERMS_SCHEMA = {"article_id": pl.String, "story_terms": pl.List(pl.String), "story_weights": pl.List(pl.Float32)}


def _terms_of(pool: pl.DataFrame, p: StoryParams) -> pl.DataFrame:
    """row, term, weight of every pool row: stored terms where the row has them, else from its text."""
    indexed = pool.select("story_terms", "story_weights").with_row_index("row")
    has = pool["story_terms"].is_not_null()
    parts = []
    if has.any():
        parts.append(
            indexed.filter(has).explode("story_terms", "story_weights").drop_nulls("story_terms")
            .select(pl.col("row").cast(pl.UInt32), pl.col("story_terms").alias("term"),
                    pl.col("story_weights").cast(pl.Float64).alias("weight"))
        )
    if not has.all():
        rows = indexed.filter(~has)["row"].to_numpy()
        fresh = _pool_terms(pool.filter(~has), p)  # rows numbered within the rows without terms
        parts.append(fresh.with_columns(pl.Series("row", rows[fresh["row"].to_numpy()], dtype=pl.UInt32)))
    return pl.concat(parts)


def _tfidf(terms: pl.DataFrame, n: int, max_terms: int) -> sp.csr_matrix:
    """Sublinear TF x smooth IDF over the pool, top-MAX_TERMS per row, L2-normalised rows."""
    if terms.height == 0:
        return sp.csr_matrix((n, 1))
    vocab = terms.group_by("term").agg(pl.len().alias("df")).sort("term").with_row_index("col")
    v = terms.join(vocab, on="term")
    w, df = v["weight"].to_numpy(), v["df"].to_numpy()
    value = np.where(w >= 1, 1.0 + np.log(np.maximum(w, 1.0)), w) * (np.log((1.0 + n) / (1.0 + df)) + 1.0)
    row, col = v["row"].to_numpy().astype(np.int64), v["col"].to_numpy().astype(np.int64)
    order = np.lexsort((col, -value, row))  # per row: highest value first, ties by term
    row, col, value = row[order], col[order], value[order]
    starts = np.searchsorted(row, row, side="left")
    keep = (np.arange(len(row)) - starts) < max_terms
    x = sp.csr_matrix((value[keep], (row[keep], col[keep])), shape=(n, vocab.height))
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return (sp.diags(1.0 / norms) @ x).tocsr()


def _top_rows(x: sp.csr_matrix, xt: sp.csr_matrix, rows: np.ndarray, days: np.ndarray, window_days: int,
              keep_n: int, p: StoryParams) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The keep_n nearest pool rows of each of `rows` (cosine >= MIN_NEIGHBOR_COS, within the window).

    Returns (r, c, v, rank) sorted by row, then highest cosine first, ties by pool position
    (date, article_id), so the result does not depend on which other rows are searched.
    """
    parts: list[tuple[np.ndarray, ...]] = []
    for start in range(0, len(rows), _ROW_CHUNK):
        sel = rows[start : start + _ROW_CHUNK]
        block = (x[sel] @ xt).tocoo()
        r, c, v = sel[block.row].astype(np.int64), block.col.astype(np.int64), block.data
        ok = (c != r) & (v >= p.min_neighbor_cos) & (np.abs(days[c] - days[r]) <= window_days)
        r, c, v = r[ok], c[ok], v[ok]
        order = np.lexsort((c, -v, r))
        r, c, v = r[order], c[order], v[order]
        rank = np.arange(len(r)) - np.searchsorted(r, r, side="left")
        top = rank < keep_n
        parts.append((r[top], c[top], v[top], rank[top]))
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0), empty
    return tuple(np.concatenate([part[k] for part in parts]) for k in range(4))  # type: ignore[return-value]


def _neighbours(x: sp.csr_matrix, days: np.ndarray, window_days: int, p: StoryParams,
                active: np.ndarray | None = None) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Neighbour lists of the pool rows that can matter (cosine >= MIN_NEIGHBOR_COS, within the window).

    Returns (member, cos): member[i, j] = 1 for j among the KNN nearest of i or j == i;
    cos = symmetric cosine of every pair among the CANDIDATES nearest of either article.
    ``active`` (bool per row, default all) marks the rows still to be placed: only pairs with an
    active end enter clustering (two stored stories never merge), so only the active rows and the
    rows near them are searched; for those pairs the figures equal a search of every row. A day of
    new articles against a window of stored ones then costs O(new x pool), not O(pool x pool).
    """
    n = x.shape[0]
    xt = x.T.tocsr()
    keep_n = max(p.candidates, p.knn)
    if active is None or active.all():
        rows = np.arange(n)
        r, c, v, rank = _top_rows(x, xt, rows, days, window_days, keep_n, p)
    else:
        rows = np.flatnonzero(active)
        r, c, v, rank = _top_rows(x, xt, rows, days, window_days, keep_n, p)
        # every row with an active row among its candidates: such a row ranks the active one
        # against its own neighbours, so search it in full too
        near = np.zeros(n, dtype=bool)
        hit = (x[rows] @ xt).tocoo()
        hc, hr = hit.col, rows[hit.row]
        ok = (hc != hr) & (hit.data >= p.min_neighbor_cos) & (np.abs(days[hc] - days[hr]) <= window_days)
        near[hc[ok]] = True
        near[rows] = False
        extra = np.flatnonzero(near)
        if len(extra):
            r2, c2, v2, rank2 = _top_rows(x, xt, extra, days, window_days, keep_n, p)
            r, c, v, rank = (np.concatenate(a) for a in ((r, r2), (c, c2), (v, v2), (rank, rank2)))
    knn = rank < p.knn
    mr = np.concatenate([r[knn], np.arange(n)])
    mc = np.concatenate([c[knn], np.arange(n)])
    member = sp.csr_matrix((np.ones(len(mr)), (mr, mc)), shape=(n, n))
    cos = sp.csr_matrix((v, (r, c)), shape=(n, n))
    return member, cos.maximum(cos.T).tocsr()


def _edges(x: sp.csr_matrix, days: np.ndarray, window_days: int, p: StoryParams,
           active: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate pairs (i < j) and their similarity: cosine blended with shared-neighbour overlap.

    With ``active``, only pairs with at least one active row (the others cannot change a story).
    """
    member, cos = _neighbours(x, days, window_days, p, active)
    links = sp.triu(cos, k=1).tocoo()
    i, j, c = links.row, links.col, links.data
    if active is not None:
        keep = active[i] | active[j]
        i, j, c = i[keep], j[keep], c[keep]
    snn = np.zeros(len(i))
    if len(i):  # Jarvis-Patrick: the overlap counts only for pairs in each other's neighbour lists
        shared = np.asarray(member[i].multiply(member[j]).sum(axis=1)).ravel()
        linked = (np.asarray(member[i, j]).ravel() + np.asarray(member[j, i]).ravel()) > 0
        snn = shared / (p.knn + 1) * linked
    sim = p.cos_weight * c + (1.0 - p.cos_weight) * snn
    return i, j, sim


def _find(parent: list[int], a: int) -> int:
    while parent[a] != a:
        parent[a] = parent[parent[a]]
        a = parent[a]
    return a


def _cluster(n: int, groups: list[list[int]], locked: dict[int, str], i: np.ndarray, j: np.ndarray,
             sim: np.ndarray, threshold: float) -> list[int]:
    """Average-linkage agglomeration over sparse edges; returns a cluster root per row.

    ``groups`` are must-link sets (a stored story, a duplicate and its original); ``locked``
    maps a row to its stored story id: two clusters holding different stored ids never merge.
    """
    parent = list(range(n))
    for g in groups:
        for a in g[1:]:
            parent[_find(parent, a)] = _find(parent, g[0])
    root = [_find(parent, a) for a in range(n)]
    size = Counter(root)
    lock: dict[int, str | None] = {}
    for a, sid in locked.items():
        lock[root[a]] = sid
    weights: dict[int, dict[int, float]] = {}
    for a, b, s in zip(i.tolist(), j.tolist(), sim.tolist()):
        ra, rb = root[a], root[b]
        if ra == rb or (lock.get(ra) is not None and lock.get(rb) is not None):
            continue  # two stored stories never merge: their edges never matter
        weights.setdefault(ra, {})
        weights.setdefault(rb, {})
        weights[ra][rb] = weights[ra].get(rb, 0.0) + s
        weights[rb][ra] = weights[rb].get(ra, 0.0) + s
    version = Counter()
    heap = []

    def push(a: int, b: int) -> None:
        if lock.get(a) is not None and lock.get(b) is not None:
            return
        avg = weights[a][b] / (size[a] * size[b])
        if avg >= threshold:
            lo, hi = min(a, b), max(a, b)
            heapq.heappush(heap, (-avg, lo, hi, version[lo], version[hi]))

    for a, nbrs in weights.items():
        for b in nbrs:
            if a < b:
                push(a, b)
    while heap:
        _, a, b, va, vb = heapq.heappop(heap)
        if version[a] != va or version[b] != vb:
            continue
        if len(weights.get(a, {})) < len(weights.get(b, {})):
            a, b = b, a
        # merge b into a
        for c, w in weights.pop(b).items():
            del weights[c][b]
            if c == a:
                continue
            weights[a][c] = weights[a].get(c, 0.0) + w
            weights[c][a] = weights[a][c]
        size[a] += size.pop(b)
        if lock.get(b) is not None:
            lock[a] = lock[b]
        parent[b] = a
        version[a] += 1
        version[b] += 1
        for c in weights[a]:
            push(a, c)
    return [_find(parent, a) for a in range(n)]


def assign_stories(new: pl.DataFrame, history: pl.DataFrame, *, window_days: int = 3, **params) -> pl.DataFrame:
    """Assign a story id to every new article, joining stories of the last ``window_days``.

    new: article_id, title, body, date (Date), publisher, duplicate_of (str|null), entity_ids
      (list[str], may be empty or absent), story_id (null, or the id from an earlier run), and
      optionally story_terms/story_weights (``story_terms``; then title, body, entity_ids are not read).
    history: same columns with story_id set (articles within ``window_days`` of the batch); a
      stored article with its story_terms needs no title, body or entity_ids.
    Returns: article_id, story_id (str) for every row of ``new``, in the order of ``new``.
    ``params`` are ``StoryParams`` fields overriding the defaults (e.g. ``merge_threshold=0.3``).
    """
    return _assign(new, history, window_days, StoryParams(**params))


def _prepare(frame: pl.DataFrame, is_new: bool) -> pl.DataFrame:
    cols = frame.columns
    return frame.select(
        pl.col("article_id").cast(pl.String),
        (pl.col("title") if "title" in cols else pl.lit(None)).cast(pl.String).alias("title"),
        (pl.col("body") if "body" in cols else pl.lit(None)).cast(pl.String).alias("body"),
        (pl.col("date") if "date" in cols else pl.lit(None)).cast(pl.Date).alias("date"),
        (pl.col("duplicate_of") if "duplicate_of" in cols else pl.lit(None)).cast(pl.String).alias("duplicate_of"),
        (pl.col("entity_ids") if "entity_ids" in cols else pl.lit([])).cast(pl.List(pl.String)).alias("entity_ids"),
        (pl.col("story_id") if "story_id" in cols else pl.lit(None)).cast(pl.String).alias("story_id"),
        (pl.col("story_terms") if "story_terms" in cols else pl.lit(None)).cast(pl.List(pl.String)).alias("story_terms"),
        (pl.col("story_weights") if "story_weights" in cols else pl.lit(None)).cast(pl.List(pl.Float32)).alias("story_weights"),
        pl.lit(is_new).alias("_new"),
    )


def _assign(new: pl.DataFrame, history: pl.DataFrame | None, window_days: int, p: StoryParams) -> pl.DataFrame:
    if new.height == 0:
        return pl.DataFrame(schema={"article_id": pl.String, "story_id": pl.String})
    new_p = _prepare(new, True)
    hist_p = _prepare(history, False) if history is not None and history.height else new_p.clear()
    hist_p = hist_p.filter(~pl.col("article_id").is_in(new_p["article_id"].implode()) & pl.col("story_id").is_not_null())
    # pool order = (date, article_id): the result does not depend on the order rows arrive in
    pool = pl.concat([hist_p, new_p]).sort(["date", "article_id"], nulls_last=True)
    n = pool.height
    ids = pool["article_id"].to_list()
    index = {a: k for k, a in enumerate(ids)}
    dates = pool["date"].to_physical().fill_null(pool["date"].to_physical().max() or 0).to_numpy()
    x = _tfidf(_terms_of(pool, p), n, p.max_terms)
    active = (pool["_new"] & pool["story_id"].is_null()).to_numpy()  # rows without a story yet
    i, j, sim = _edges(x, dates.astype(np.int64), window_days, p, active)

    story = pool["story_id"].to_list()
    by_story: dict[str, list[int]] = {}
    locked: dict[int, str] = {}
    for k, sid in enumerate(story):
        if sid is not None:
            by_story.setdefault(sid, []).append(k)
            locked[k] = sid
    groups = list(by_story.values())
    for k, (dup, is_new) in enumerate(zip(pool["duplicate_of"].to_list(), pool["_new"].to_list())):
        if is_new and story[k] is None and dup is not None and dup in index:
            groups.append([index[dup], k])
    roots = _cluster(n, groups, locked, i, j, sim, p.merge_threshold)

    cluster_story: dict[int, str] = {}
    for k, r in enumerate(roots):
        if story[k] is not None and r not in cluster_story:
            cluster_story[r] = story[k]
    for k, r in enumerate(roots):  # pool is sorted, so the first member met founds the story
        if r not in cluster_story:
            cluster_story[r] = story_id_for(ids[k])
    assigned = {ids[k]: (story[k] if story[k] is not None else cluster_story[roots[k]]) for k in range(n)}
    out_ids = new["article_id"].cast(pl.String).to_list()
    return pl.DataFrame({"article_id": out_ids, "story_id": [assigned[a] for a in out_ids]},
                        schema={"article_id": pl.String, "story_id": pl.String})


def summarize_stories(articles: pl.DataFrame) -> pl.DataFrame:
    """One row per story from its articles.

    articles: article_id, story_id, title, date (Date), publisher.
    Returns: story_id, title (of the earliest titled article), first_published (Date),
    article_count (u32), publisher_count (u32, distinct non-null publishers).
    """
    ordered = articles.sort(["date", "article_id"], nulls_last=True)
    return (
        ordered.group_by("story_id", maintain_order=True)
        .agg(
            pl.col("title").filter(pl.col("title").str.strip_chars().str.len_chars() > 0).first().alias("title"),
            pl.col("date").min().cast(pl.Date).alias("first_published"),
            pl.len().cast(pl.UInt32).alias("article_count"),
            pl.col("publisher").drop_nulls().n_unique().cast(pl.UInt32).alias("publisher_count"),
        )
        .sort(["first_published", "story_id"], nulls_last=True)
    )
