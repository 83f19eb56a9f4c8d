"""Foreign-policy topics: the published taxonomy and multi-label topic scoring.

The taxonomy lives in `transforms/data/topics.toml` (28 topics, each with a label, a one-line
definition and weighted cue phrases in three tiers). Scoring is a weighted cue lexicon:

1. Every cue expands to a finite list of phrases (its small pattern language is described in the
   TOML header). Bodies are split into sentences once (one Rust regex), each sentence is
   normalised (punctuation and spaces become one separator), and all phrases of all topics are
   found in one Aho-Corasick pass per case mode (Polars `extract_many`/`find_many`, vectorised).
   Overlaps resolve leftmost-longest: a phrase inside or across an earlier, longer match does not
   count ("trade war" is trade, not armed conflict; ignore phrases such as "peace and stability"
   swallow their words). A matched phrase credits every topic that lists it.
2. Per article and topic, each distinct cue adds `weight * (1 + ln(count))` (repeats help, with
   diminishing returns), plus `TITLE_BONUS * weight` when the cue is in the title.
3. The sum is divided by `(words / LENGTH_REF_WORDS) ** LENGTH_EXPONENT` for articles longer than
   `LENGTH_REF_WORDS` (a passing mention in a long article weighs less), then squashed into 0..1
   with `1 - exp(-x / SCORE_SCALE)`.
4. Evidence is the body sentence carrying the most cue weight for that topic (the title when the
   topic is only in the title), cut to at most `MAX_EVIDENCE_CHARS` around the first cue: always a
   verbatim substring of the article.

Why a lexicon and no embedding model: the speed budget is >= 1000 articles/s on 2 cores for
articles of ~6,000 characters (AllSides mean); a MiniLM sentence encoder on CPU runs a few hundred
sentences/s per core, two orders of magnitude short, and it would need torch or onnxruntime plus a
model package. The lexicon's rate and agreement are measured in bench/topics.py, and every score is
explained by the phrases in `matched_cues` and the sentence in `evidence`.

Why Aho-Corasick and not one big regex: a single Rust regex of all ~1,600 cues falls off the lazy
DFA onto the PikeVM (measured here: 0.01-0.2 MB/s, 400 s for 100 articles); literal matching of
the expanded phrases does not degrade with the size of the taxonomy.
"""

from __future__ import annotations

import functools
import itertools
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from re import _parser as _sre_parser  # the stdlib regex parser: used only to expand cue patterns

import polars as pl

TIERS = ("strong", "medium", "weak")

# Score calibration, tuned as a set on the 5 seeds and a hand-audited sample of AllSides articles
# (bench/topics.py): one strong cue in a short article scores ~0.39, a strong cue repeated or backed
# by a second strong/medium cue passes 0.5, a single medium or weak cue stays below DEFAULT_MIN_SCORE.
SCORE_SCALE = 6.0
# Articles longer than this many words get their cue mass divided by (words/ref)**exponent;
# 400 words is about a short wire story (the seeds are 330-600 words, AllSides mean ~1000).
LENGTH_REF_WORDS = 400
# 0.7, not 0.5: in long articles generic words ("attack", "military", "congress") add up to >= 0.5 for
# topics the article only brushes. Picked on the tuning part of the hand labels
# (bench/data/topics_hand_labels_dev.csv, 48 articles): micro-F1 of the >= 0.5 topics 0.598 at 0.5,
# 0.661 at 0.7, 0.670 at 0.8, recall 0.987 -> 0.961 -> 0.935 (0.667 at 0.7 with the international-law
# tiers of topics.toml 2026.12.1); 0.7 keeps the seeds' confident topics above 0.5 with more margin.
# The top topic of an article does not depend on it.
LENGTH_EXPONENT = 0.7
# A cue in the headline says what the article is about far more than one in the 20th paragraph.
TITLE_BONUS = 1.0
# Below this a topic is noise (one weak or medium cue in passing); article_topics keeps rows from
# here so analysts can still see weak signals, and filter `score >= 0.5` for confident ones.
DEFAULT_MIN_SCORE = 0.25
# Evidence is shown in a table cell: one sentence, cut around the cue when longer.
MAX_EVIDENCE_CHARS = 300
# A cue must stay a readable phrase family, not a generator of the whole language.
MAX_PHRASES_PER_CUE = 5000

# Sentences: runs of text up to . ! ? followed by a space, or a line end. Initials ("U.S."),
# common abbreviations ("Gen.", "Dec.") and inner dots ("3.5", "U.S.-Japan") do not end one.
# ASCII word boundaries keep the regex on Rust's fast DFA.
SENTENCE_PATTERN = (
    r"(?:(?-u:\b)[A-Z]\.|(?-u:\b)(?:Mr|Mrs|Ms|Dr|St|Gen|Gov|Sen|Rep|Lt|Col|Sgt|Capt|Adm|Jr|Sr|No|vs|etc|Inc|Corp"
    r"|Co|Ltd|Jan|Feb|Mar|Apr|Aug|Sep|Sept|Oct|Nov|Dec)\.|[.!?]+[^\s.!?]|[^.!?\n])+[.!?]*[\"'”’)\]]*"
)
# Everything but letters and digits separates words. Only runs that are not already one space are
# rewritten: 2x faster than rewriting every separator (measured on AllSides sentences).
_SEPARATORS = r"[^\p{L}\p{N}]*[^\p{L}\p{N} ][^\p{L}\p{N}]*|  +"
_TOPIC_KEY = re.compile(r"^[a-z][a-z0-9_]*$")

OUTPUT_SCHEMA = {
    "topic": pl.Utf8,
    "score": pl.Float64,
    "evidence": pl.Utf8,
    "matched_cues": pl.List(pl.Utf8),
    "rank": pl.Int32,
}


@dataclass(frozen=True)
class Cue:
    """One cue of a topic: its pattern as written in the TOML, tier and weight."""

    pattern: str
    tier: str
    weight: float


@dataclass(frozen=True)
class Topic:
    """One taxonomy entry."""

    topic: str
    label: str
    definition: str
    cues: tuple[Cue, ...]


@dataclass(frozen=True, eq=False)
class Taxonomy:
    """The validated taxonomy plus the phrase tables derived from it."""

    version: str
    topics: tuple[Topic, ...]
    ignore: tuple[str, ...]
    weights: dict[str, float]
    phrases_nocase: tuple[str, ...] = field(repr=False)  # normalised, lower case, incl. ignore phrases
    phrases_case: tuple[str, ...] = field(repr=False)  # normalised, case-sensitive cues (`=` prefix)
    credits: pl.DataFrame = field(repr=False)  # key, sensitive, _topic_idx, _cue, weight, shown

    @functools.cached_property
    def _search_phrases(self) -> list[str]:
        """Everything to look for, in lower case: one case-insensitive pass finds both kinds."""
        return sorted(set(self.phrases_nocase) | {p.lower() for p in self.phrases_case})


def _normalise_phrase(text: str) -> str:
    """A phrase the way sentences are normalised: separators -> one space, one space at each end."""
    core = re.sub(r"[\W_]+", " ", text).strip()
    return f" {core} " if core else ""


def _expand_items(items: list, cue: str) -> list[str]:
    results = [""]
    for op, av in items:
        options = _expand_item(str(op), av, cue)
        results = [r + o for r in results for o in options]
        if len(results) > MAX_PHRASES_PER_CUE:
            raise ValueError(f"topics.toml: cue {cue!r} expands to more than {MAX_PHRASES_PER_CUE} phrases")
    return results


def _expand_item(op: str, av, cue: str) -> list[str]:
    if op == "LITERAL":
        return [chr(av)]
    if op == "IN":
        chars: list[str] = []
        for kind, arg in av:
            if str(kind) == "LITERAL":
                chars.append(chr(arg))
            elif str(kind) == "RANGE" and arg[1] - arg[0] < 30:
                chars.extend(chr(c) for c in range(arg[0], arg[1] + 1))
            else:
                raise ValueError(f"topics.toml: cue {cue!r}: only small [..] letter sets are allowed")
        return chars
    if op == "SUBPATTERN":
        return _expand_items(list(av[-1]), cue)
    if op == "BRANCH":
        return [x for branch in av[1] for x in _expand_items(list(branch), cue)]
    if op in ("MAX_REPEAT", "MIN_REPEAT") and av[1] <= 3:
        options = _expand_items(list(av[2]), cue)
        return ["".join(p) for k in range(av[0], av[1] + 1) for p in itertools.product(options, repeat=k)]
    raise ValueError(f"topics.toml: cue {cue!r} uses unsupported syntax ({op}); see the file header")


def expand_cue(cue: str) -> tuple[bool, list[str]]:
    """(case_sensitive, normalised phrases) of one cue; raises ValueError on syntax it cannot expand."""
    sensitive = cue.startswith("=")
    body = cue[1:] if sensitive else cue
    try:
        parsed = _sre_parser.parse(body.strip())
    except re.error as exc:
        raise ValueError(f"topics.toml: cue {cue!r} is not a valid pattern: {exc}") from exc
    phrases = {_normalise_phrase(p) for p in _expand_items(list(parsed), cue)}
    phrases.discard("")
    if not phrases:
        raise ValueError(f"topics.toml: cue {cue!r} matches nothing")
    return sensitive, sorted(p if sensitive else p.lower() for p in phrases)


def _build_taxonomy(raw: dict) -> Taxonomy:
    """Validate a parsed topics.toml and derive its phrase tables; raises ValueError on a bad entry."""
    weights = {tier: float(raw.get("weights", {}).get(tier, 0.0)) for tier in TIERS}
    if not all(weights[t] > 0 for t in TIERS):
        raise ValueError(f"topics.toml: [weights] needs positive {TIERS}, got {weights}")
    entries = raw.get("topic", [])
    if not 20 <= len(entries) <= 40:
        raise ValueError(f"topics.toml: expected 20-40 topics, found {len(entries)}")
    topics: list[Topic] = []
    seen: set[str] = set()
    for entry in entries:
        key = entry.get("topic", "")
        if not _TOPIC_KEY.match(key) or key in seen:
            raise ValueError(f"topics.toml: bad or duplicate topic key {key!r}")
        seen.add(key)
        for name in ("label", "definition"):
            if not str(entry.get(name, "")).strip():
                raise ValueError(f"topics.toml: topic {key!r} has no {name}")
        cues: list[Cue] = []
        for tier in TIERS:
            for cue in entry.get(tier, []):
                if any(c.pattern == cue for c in cues):
                    raise ValueError(f"topics.toml: topic {key!r} lists cue {cue!r} twice")
                cues.append(Cue(cue, tier, weights[tier]))
        if not any(c.tier == "strong" for c in cues):
            raise ValueError(f"topics.toml: topic {key!r} has no strong cue")
        topics.append(Topic(key, entry["label"].strip(), entry["definition"].strip(), tuple(cues)))
    ignore = tuple(raw.get("ignore", {}).get("phrases", []))

    ignored: set[tuple[str, bool]] = set()
    for phrase in ignore:
        sensitive, expanded = expand_cue(phrase)
        ignored.update((p, sensitive) for p in expanded)
    # (phrase, sensitive) -> topic index -> (weight, cue id); the strongest cue of a topic wins
    best: dict[tuple[str, bool], dict[int, tuple[float, int]]] = {}
    cue_id = 0
    for topic_idx, topic in enumerate(topics):
        for cue in topic.cues:
            sensitive, expanded = expand_cue(cue.pattern)
            for phrase in expanded:
                slot = best.setdefault((phrase, sensitive), {})
                if slot.get(topic_idx, (0.0, -1))[0] < cue.weight:
                    slot[topic_idx] = (cue.weight, cue_id)
            cue_id += 1
    rows = [
        (phrase, sensitive, topic_idx, cid, weight, " ".join(phrase.split()))
        for (phrase, sensitive), slot in best.items()
        if (phrase, sensitive) not in ignored
        for topic_idx, (weight, cid) in slot.items()
    ]
    credits = pl.DataFrame(
        rows,
        schema={"key": pl.Utf8, "sensitive": pl.Boolean, "_topic_idx": pl.Int32, "_cue": pl.Int32, "weight": pl.Float64, "shown": pl.Utf8},
        orient="row",
    )
    all_phrases = set(best) | ignored
    return Taxonomy(
        version=str(raw.get("version", "")),
        topics=tuple(topics),
        ignore=ignore,
        weights=weights,
        phrases_nocase=tuple(sorted(p for p, s in all_phrases if not s)),
        phrases_case=tuple(sorted(p for p, s in all_phrases if s)),
        credits=credits,
    )


@functools.cache
def load_taxonomy() -> Taxonomy:
    """Read, validate and compile transforms/data/topics.toml (cached)."""
    text = resources.files("transforms").joinpath("data", "topics.toml").read_text(encoding="utf-8")
    return _build_taxonomy(tomllib.loads(text))


def taxonomy_frame(taxonomy: Taxonomy) -> pl.DataFrame:
    """The `topics` reference table: topic, label, definition, cues (list[str]), cue_weights (list[f64]), taxonomy_version."""
    return pl.DataFrame(
        {
            "topic": [t.topic for t in taxonomy.topics],
            "label": [t.label for t in taxonomy.topics],
            "definition": [t.definition for t in taxonomy.topics],
            "cues": [[c.pattern for c in t.cues] for t in taxonomy.topics],
            "cue_weights": [[c.weight for c in t.cues] for t in taxonomy.topics],
            "taxonomy_version": [taxonomy.version] * len(taxonomy.topics),
        },
        schema={
            "topic": pl.Utf8,
            "label": pl.Utf8,
            "definition": pl.Utf8,
            "cues": pl.List(pl.Utf8),
            "cue_weights": pl.List(pl.Float64),
            "taxonomy_version": pl.Utf8,
        },
    )


def _trim(sentence: str, phrase: str) -> str:
    """At most MAX_EVIDENCE_CHARS of `sentence` around the first word of `phrase`, cut on spaces; a substring."""
    text = sentence.strip()
    if len(text) <= MAX_EVIDENCE_CHARS:
        return text
    words = phrase.split()
    focus = max(text.lower().find(words[0].lower()), 0) if words else 0
    start = max(0, min(focus - MAX_EVIDENCE_CHARS // 3, len(text) - MAX_EVIDENCE_CHARS))
    end = start + MAX_EVIDENCE_CHARS
    if start > 0:
        space = text.find(" ", start, focus + 1)
        start = space + 1 if space >= 0 else start
    if end < len(text):
        space = text.rfind(" ", max(start, focus), end)
        end = space if space > start else end
    return text[start:end].strip()


def _empty_output(id_dtype: pl.DataType) -> pl.DataFrame:
    return pl.DataFrame(schema={"article_id": id_dtype, **OUTPUT_SCHEMA})


def _sentences(frame: pl.DataFrame) -> pl.DataFrame:
    """_row, _sent (-1 = title, then 0..), sentence, _norm (normalised for phrase matching)."""
    titles = frame.select("_row", pl.lit(-1, dtype=pl.Int32).alias("_sent"), pl.col("title").alias("sentence")).filter(
        pl.col("sentence").str.strip_chars().str.len_bytes() > 0
    )
    bodies = (
        frame.select("_row", pl.col("body").str.extract_all(SENTENCE_PATTERN).alias("sentence"))
        .explode("sentence")
        .drop_nulls("sentence")
        .filter(pl.col("sentence").str.strip_chars().str.len_bytes() > 0)
        .with_columns(pl.int_range(pl.len(), dtype=pl.Int32).over("_row").alias("_sent"))
        .select("_row", "_sent", "sentence")
    )
    normalised = pl.concat_str(
        pl.lit(" "), pl.col("sentence").str.replace_all(_SEPARATORS, " ").str.strip_chars(" "), pl.lit(" ")
    )
    return pl.concat([titles, bodies]).with_columns(normalised.alias("_norm"))


def _phrase_hits(sentences: pl.DataFrame, taxonomy: Taxonomy) -> pl.DataFrame:
    """Credited cue hits per sentence after overlap resolution: _row, _sent, start, _topic_idx, _cue, weight, shown."""
    options = {"ascii_case_insensitive": True, "overlapping": True}
    phrases = taxonomy._search_phrases
    hits = (
        sentences.select(
            "_row",
            "_sent",
            pl.col("_norm").str.extract_many(phrases, **options).alias("text"),
            pl.col("_norm").str.find_many(phrases, **options).alias("start"),
        )
        .explode("text", "start")
        .drop_nulls("text")
        .with_columns(pl.col("text").str.to_lowercase().alias("lower"), pl.col("start").cast(pl.Int64))
        # a case-sensitive phrase found in another case is no hit at all
        .filter(pl.col("lower").is_in(list(taxonomy.phrases_nocase)) | pl.col("text").is_in(list(taxonomy.phrases_case)))
        .with_columns((pl.col("start") + pl.col("text").str.len_bytes()).alias("end"))
    )
    # Leftmost-longest: sorted by start, longest first, a phrase that starts inside an earlier one is
    # dropped ("human rights record" keeps "human rights", drops "rights record"). Phrases carry
    # their boundary spaces, so neighbours share exactly one space (start == end - 1) and both stay.
    kept = (
        hits.sort("_row", "_sent", "start", "end", descending=[False, False, False, True])
        .with_columns(pl.col("end").cum_max().shift(1).over("_row", "_sent").alias("_covered_to"))
        .filter(pl.col("_covered_to").is_null() | (pl.col("start") >= pl.col("_covered_to") - 1))
        .select("_row", "_sent", "start", "text", "lower")
    )
    credits = taxonomy.credits
    return pl.concat(
        [
            kept.join(credits.filter(~pl.col("sensitive")), left_on="lower", right_on="key"),
            kept.join(credits.filter(pl.col("sensitive")), left_on="text", right_on="key"),
        ]
    ).select("_row", "_sent", "start", "_topic_idx", "_cue", "weight", "shown")


def score_topics(
    articles: pl.DataFrame, taxonomy: Taxonomy, *, min_score: float = DEFAULT_MIN_SCORE
) -> pl.DataFrame:
    """Score every article against every topic; keep rows with score >= min_score.

    Input columns: article_id, title (str or null; optional), body (str or null); others are ignored.
    Output (the `article_topics` rows): article_id, topic (taxonomy key), score (f64 in 0..1,
    3 decimals), evidence (str: the body sentence carrying the most cue weight, else the title;
    a verbatim substring of the article, <= MAX_EVIDENCE_CHARS), matched_cues (list[str]: distinct
    matched phrases, normalised to lower case, strongest first), rank (i32: 1 = the article's top topic).
    """
    id_dtype = articles.schema["article_id"]
    if articles.height == 0:
        return _empty_output(id_dtype)
    title = pl.col("title").cast(pl.Utf8).fill_null("") if "title" in articles.columns else pl.lit("", dtype=pl.Utf8)
    frame = articles.select(
        pl.col("article_id"), title.alias("title"), pl.col("body").cast(pl.Utf8).fill_null("").alias("body")
    ).with_row_index("_row")
    sentences = _sentences(frame)
    if sentences.height == 0:
        return _empty_output(id_dtype)
    hits = _phrase_hits(sentences, taxonomy)
    if hits.height == 0:
        return _empty_output(id_dtype)

    per_cue = (
        hits.group_by("_row", "_topic_idx", "_cue")
        .agg(
            pl.col("weight").first(),
            pl.col("shown").first(),
            pl.len().alias("n"),
            (pl.col("_sent") < 0).any().alias("in_title"),
        )
        .with_columns(
            (
                pl.col("weight") * (1.0 + pl.col("n").cast(pl.Float64).log())
                + pl.when(pl.col("in_title")).then(TITLE_BONUS * pl.col("weight")).otherwise(0.0)
            ).alias("mass")
        )
    )
    words = frame.select("_row", pl.col("body").str.count_matches(r"\S+").cast(pl.Float64).alias("_words"))
    length_factor = (pl.col("_words") / LENGTH_REF_WORDS).clip(lower_bound=1.0).pow(LENGTH_EXPONENT)
    scored = (
        per_cue.group_by("_row", "_topic_idx")
        .agg(pl.col("mass").sum().alias("raw"))
        .join(words, on="_row")
        .with_columns((1.0 - (-(pl.col("raw") / length_factor) / SCORE_SCALE).exp()).round(3).alias("score"))
        .filter(pl.col("score") >= min_score)
        .select("_row", "_topic_idx", "score")
    )
    if scored.height == 0:
        return _empty_output(id_dtype)

    cues = (
        per_cue.join(scored, on=["_row", "_topic_idx"], how="semi")
        .sort("weight", "n", "shown", descending=[True, True, False])
        .group_by("_row", "_topic_idx", maintain_order=True)
        .agg(pl.col("shown").alias("matched_cues"))
    )
    # Evidence: the body sentence with the most distinct cue weight for the topic (earliest on ties).
    best_sentence = (
        hits.filter(pl.col("_sent") >= 0)
        .join(scored, on=["_row", "_topic_idx"], how="semi")
        .unique(["_row", "_topic_idx", "_sent", "_cue"])
        .group_by("_row", "_topic_idx", "_sent")
        .agg(pl.col("weight").sum().alias("_sw"), pl.col("shown").sort_by("start").first().alias("_first"))
        .sort("_row", "_topic_idx", "_sw", "_sent", descending=[False, False, True, False])
        .group_by("_row", "_topic_idx", maintain_order=True)
        .first()
        .join(sentences.select("_row", "_sent", "sentence"), on=["_row", "_sent"])
        .select("_row", "_topic_idx", "sentence", "_first")
    )
    result = (
        scored.join(cues, on=["_row", "_topic_idx"])
        .join(best_sentence, on=["_row", "_topic_idx"], how="left")
        .join(frame.select("_row", "article_id", "title"), on="_row")
    )
    evidence = [
        _trim(sentence, first) if sentence is not None else title_text.strip()[:MAX_EVIDENCE_CHARS].strip()
        for sentence, first, title_text in zip(result["sentence"].to_list(), result["_first"].to_list(), result["title"].to_list())
    ]
    keys = pl.DataFrame(
        {"_topic_idx": list(range(len(taxonomy.topics))), "topic": [t.topic for t in taxonomy.topics]},
        schema={"_topic_idx": pl.Int32, "topic": pl.Utf8},
    )
    return (
        result.with_columns(pl.Series("evidence", evidence, dtype=pl.Utf8))
        .join(keys, on="_topic_idx")
        .sort("_row", "score", "topic", descending=[False, True, False])
        .with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over("_row").alias("rank"))
        .select("article_id", "topic", "score", "evidence", "matched_cues", "rank")
    )
