"""Duplicates: exact copies (same normalised body) and near-copies (re-spun, lightly edited).

``compute_signatures`` gives each article a ``content_hash`` (normalised body), a MinHash
(datasketch, ``affine32`` scheme, fixed seed, so stored signatures stay comparable across runs)
over word bigrams of content words, and LSH band keys. ``find_duplicates`` joins the band keys
of new articles against new + stored ones (an equi-join, so it scales to millions of rows;
the flow can pre-filter stored rows on the same keys in DuckDB), verifies the candidates by
estimated Jaccard, groups them, and points every member at the earliest article of its group.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib

import numpy as np
import polars as pl
from datasketch import MinHash

# Permutations per MinHash: 128 estimated the seeds 000/003 pair (true 0.14) at 0.19, too close
# to the threshold; 256 halves that noise (standard error ~0.03 at Jaccard 0.25).
NUM_PERM = 256
# Rows per LSH band (NUM_PERM / BAND_ROWS bands). With 128 bands of 2 rows a pair at Jaccard 0.25
# is a candidate with probability 0.9997, at 0.01 with 0.013 (few false candidates to verify).
BAND_ROWS = 2
# Estimated Jaccard of content-word bigrams at or above which two articles are near-duplicates.
# Seeds: the reworded copy 001/000 measures 0.34; different outlets' reports of the same
# meeting (002/003, sharing quotes) at most 0.14. 0.25 sits between them.
NEAR_DUP_THRESHOLD = 0.25
# Articles with fewer shingles than this are matched on content_hash only (too short to judge).
MIN_SHINGLES = 8
# Fixed MinHash seed: changing it (or NUM_PERM, BAND_ROWS, the shingles or the hash function:
# zlib.crc32, stable across Python versions and 3.5x faster than datasketch's default sha1; the
# affine32 scheme pre-mixes it with the MurmurHash3 finalizer) invalidates stored signatures.
MINHASH_SEED = 20211211

_WORD_RE = re.compile(r"\w+")
# Function words dropped before shingling: rewording changes them first.
_FUNCTION_WORDS = frozenset(
    "a an the of to in on for and or but is are was were be been being has have had it its this that"
    " these those with as at by from their his her they he she we our you your not no will would can"
    " could said says say also which who whom than then there into about after before over such".split()
)
_MASK64 = (1 << 64) - 1
# content_hash of an empty body: empty articles are not copies of one another.
_EMPTY_HASH = hashlib.sha1(b"").hexdigest()

SIGNATURE_SCHEMA = {
    "article_id": pl.String,
    "content_hash": pl.String,
    "minhash": pl.List(pl.UInt32),
    "band_keys": pl.List(pl.UInt64),
}


def _words(body: str | None) -> list[str]:
    return _WORD_RE.findall(unicodedata.normalize("NFKC", body or "").casefold())


def normalize_body(body: str | None) -> str:
    """Body folded for comparison: NFKC, case-folded, punctuation dropped, whitespace collapsed."""
    return " ".join(_words(body))


def content_hash(body: str) -> str:
    """SHA-1 hex of the normalised body (case, whitespace and punctuation folded)."""
    return hashlib.sha1(normalize_body(body).encode("utf-8")).hexdigest()


def shingles(body: str | None) -> set[bytes]:
    """Word bigrams of the content words of a body (the near-duplicate features)."""
    words = [w for w in _words(body) if w not in _FUNCTION_WORDS]
    return {f"{a} {b}".encode() for a, b in zip(words, words[1:])}


def _splitmix64(x: np.ndarray) -> np.ndarray:
    x = (x + np.uint64(0x9E3779B97F4A7C15)) & np.uint64(_MASK64)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def band_keys(hashvalues: np.ndarray) -> np.ndarray:
    """One stable u64 key per LSH band of a MinHash (band index mixed in)."""
    bands = hashvalues.astype(np.uint64).reshape(-1, BAND_ROWS)
    with np.errstate(over="ignore"):
        key = _splitmix64(np.arange(len(bands), dtype=np.uint64))
        for r in range(BAND_ROWS):
            key = _splitmix64(key ^ bands[:, r])
    return key


def compute_signatures(articles: pl.DataFrame) -> pl.DataFrame:
    """Signatures of articles for duplicate search.

    articles: article_id, body. Returns: article_id, content_hash (str), minhash (list[u32],
    NUM_PERM values; empty when the body has fewer than MIN_SHINGLES shingles), band_keys
    (list[u64], one per LSH band; empty likewise). Store it partitioned like articles.
    """
    ids = articles["article_id"].cast(pl.String).to_list()
    bodies = articles["body"].cast(pl.String).to_list()
    sets = [shingles(b) for b in bodies]
    big = [k for k, s in enumerate(sets) if len(s) >= MIN_SHINGLES]
    minhashes: list[list[int]] = [[] for _ in ids]
    keys: list[list[int]] = [[] for _ in ids]
    gen = MinHash.generator((sets[k] for k in big), num_perm=NUM_PERM, seed=MINHASH_SEED,
                            scheme="affine32", hashfunc=zlib.crc32)
    for k, mh in zip(big, gen):
        minhashes[k] = mh.hashvalues.tolist()
        keys[k] = band_keys(mh.hashvalues).tolist()
    return pl.DataFrame(
        {"article_id": ids, "content_hash": [content_hash(b) for b in bodies], "minhash": minhashes,
         "band_keys": keys},
        schema=SIGNATURE_SCHEMA,
    )


def find_duplicates(new: pl.DataFrame, new_signatures: pl.DataFrame, existing: pl.DataFrame) -> pl.DataFrame:
    """duplicate_of for every new article: the earliest article of its duplicate group, or null.

    new: article_id, body, sort_key (sortable, earliest first). new_signatures: the output of
    ``compute_signatures`` for ``new``. existing: stored signature rows of earlier articles
    (article_id, content_hash, minhash, band_keys) plus sort_key, and optionally their stored
    duplicate_of (then a match to a copy resolves to its original).
    Returns: article_id, duplicate_of (str|null), in the order of ``new``.
    """
    sig_cols = list(SIGNATURE_SCHEMA)
    new_rows = new.select(pl.col("article_id").cast(pl.String), "sort_key").join(
        new_signatures.select(sig_cols), on="article_id", how="left")
    new_rows = new_rows.with_columns(pl.lit(None, pl.String).alias("duplicate_of"), pl.lit(True).alias("_new"))
    old = existing if existing is not None else new_rows.clear()
    if "duplicate_of" not in old.columns:
        old = old.with_columns(pl.lit(None, pl.String).alias("duplicate_of"))
    old = old.select(pl.col("article_id").cast(pl.String), "sort_key", *sig_cols[1:],
                     pl.col("duplicate_of").cast(pl.String), pl.lit(False).alias("_new"))
    old = old.filter(~pl.col("article_id").is_in(new_rows["article_id"].implode()))
    pool = pl.concat([old, new_rows.select(old.columns)], how="vertical_relaxed")
    pool = pool.unique("article_id", keep="first").sort(["sort_key", "article_id"]).with_row_index("_rank")
    rank = pool.select("_rank", "_new")

    # exact copies: same content_hash
    exact = (pool.filter(pl.col("content_hash").is_not_null() & (pl.col("content_hash") != _EMPTY_HASH))
             .group_by("content_hash").agg(pl.col("_rank").min().alias("_a"), pl.col("_rank").alias("_b"))
             .explode("_b").filter(pl.col("_a") != pl.col("_b")).select("_a", "_b"))
    # near copies: shared LSH band key, then estimated Jaccard >= NEAR_DUP_THRESHOLD
    bands = pool.select("_rank", "band_keys").explode("band_keys").drop_nulls("band_keys")
    new_bands = bands.join(rank.filter("_new").select("_rank"), on="_rank", how="semi")
    cand = (new_bands.join(bands, on="band_keys", suffix="_o")
            .filter(pl.col("_rank") != pl.col("_rank_o"))
            .select(pl.min_horizontal("_rank", "_rank_o").alias("_a"), pl.max_horizontal("_rank", "_rank_o").alias("_b"))
            .unique())
    pairs = [exact]
    if cand.height:
        mh = pool["minhash"].to_list()
        a, b = cand["_a"].to_numpy(), cand["_b"].to_numpy()
        ma = np.array([mh[k] for k in a], dtype=np.uint32)
        mb = np.array([mh[k] for k in b], dtype=np.uint32)
        keep = (ma == mb).mean(axis=1) >= NEAR_DUP_THRESHOLD
        pairs.append(pl.DataFrame({"_a": a[keep], "_b": b[keep]}).cast(pl.UInt32))
    edges = pl.concat([p.cast(pl.UInt32) for p in pairs]).unique()

    parent = list(range(pool.height))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for x, y in edges.iter_rows():
        rx, ry = find(x), find(y)
        if rx != ry:  # the earlier-ranked root wins, so a root is its group's earliest article
            parent[max(rx, ry)] = min(rx, ry)
    ids = pool["article_id"].to_list()
    stored = pool["duplicate_of"].to_list()
    result = {}
    for k, is_new in enumerate(pool["_new"].to_list()):
        if is_new:
            r = find(k)
            target = stored[r] or ids[r]
            result[ids[k]] = None if r == k else target
    out_ids = new["article_id"].cast(pl.String).to_list()
    return pl.DataFrame({"article_id": out_ids, "duplicate_of": [result.get(a) for a in out_ids]},
                        schema={"article_id": pl.String, "duplicate_of": pl.String})
