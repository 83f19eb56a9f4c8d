"""Text-level cleaning and the one boilerplate stage that HTML and plain-text articles both pass.

Pure: strings and Polars frames in, strings and frames out. The patterns live in
``transforms/data/boilerplate.toml``; this module only decides *where* they apply:

* strong rules drop a line anywhere (share bars, sign-ups, copyright footers, ...);
* the trailing footer zone is cut from its topmost strong line down, so weak lines caught between
  strong ones (publisher self-descriptions, app bullet lists) go too, while the story's last
  paragraph, which is never a strong line, stays;
* a "Related"/"Read more" head also takes the headline-like lines listed under it;
* the headline, when given, is dropped wherever it is repeated, with the short category lines
  right above its first occurrence;
* lines learned as repeating across many articles of one publisher are strong lines too.

Output paragraphs are separated by a single blank line. The stage only deletes text (lines, or
fragments inside a line) and normalises whitespace and punctuation artefacts, and it is
idempotent: ``strip_boilerplate(strip_boilerplate(t)) == strip_boilerplate(t)``.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import polars as pl

# A line with at most this many words and no sentence-final punctuation reads as a heading,
# menu item or promo bullet, not a story sentence; used to let the footer scan pass over such
# lines. 10 covers the promo bullets seen on news sites ("Take your reading anywhere with offline
# reading functions") while a reporting sentence nearly always ends with punctuation.
SHORT_LINE_MAX_WORDS = 10

# Category/section labels above a headline are at most this long ("International relations",
# "World | Asia"); measured on the seeds and the trafilatura_en pages.
CATEGORY_MAX_WORDS = 4

# Only this many lines before the headline's first occurrence are considered its header.
HEADER_MAX_LINES = 6

# Lines listed under a "Related"/"Read more" head that look like headlines (no final
# punctuation, at most this many words) are taken with the head. 16 words covers long headlines.
RELATED_ITEM_MAX_WORDS = 16

# Date/time stamps ([[head]] rules) are dropped only among the first HEAD_ZONE_LINES lines, where
# trafilatura leaves the publication stamp under the headline (cricket.com.au, wired.com: line 2);
# a page listing meeting dates (wnet.org) has them from line 3 on and keeps them.
HEAD_ZONE_LINES = 3

# A closing run of at least LINK_LIST_MIN_ITEMS bulleted, Title-Cased headline lines (3 to
# RELATED_ITEM_MAX_WORDS words) is a list of links to other stories even without a "Related" head:
# seen closing self.com, foxbusiness.com and space.com pages (newspaper4k set). Title Case: at least
# TITLE_CASE_MIN_SHARE of the words of 4+ letters capitalised, which bulleted facts, ingredients or
# keyword lists ('- Seven bodies from 162 on board found so far', '- 2 tablespoons butter') are not.
LINK_LIST_MIN_ITEMS = 2
LINK_ITEM_MIN_WORDS = 3
TITLE_CASE_MIN_SHARE = 0.6

# Learned boilerplate: a line recurring in this many distinct articles of one publisher group.
# Two or three versions of the same wire story legitimately share paragraphs, so a line needs at
# least 4 articles, and at least LEARNED_MIN_SHARE of the group when the group is large.
LEARNED_MIN_DOCS = 4
LEARNED_MIN_SHARE = 0.02
# ...and must be short-ish: promos and footers are one or two sentences, story paragraphs longer.
LEARNED_MAX_WORDS = 30

# Memoised line classes: a batch of 500 articles holds ~15k distinct lines (AllSides, ~26 a doc),
# so 64k entries keep a whole batch while bounding memory (~15 MB of 230-char lines a cache).
LINE_CACHE_SIZE = 1 << 16

# Upper bound on fixed-point passes of the punctuation normaliser (each pass only deletes).
_MAX_PASSES = 8

_SENTENCE_END = re.compile(r"[.!?…:;][\"”’')\]]*$")
_BULLET = re.compile(r"^(?:[-–—•·*▪►▸>+]+\s*)+")
_WORD = re.compile(r"\w+", re.UNICODE)
_LETTERS = re.compile(r"[^\W\d_]+")
_VOCAB_TOKEN = re.compile(r"[\w&|+'’-]+")
_DATE_HEADER = re.compile(r"^\s*date\s+\d{4}-\d{2}-\d{2}(?=\s|$)\s*", re.IGNORECASE)
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
_WS = r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]"
# Runs of horizontal whitespace other than one plain space (which would be replaced by itself):
# the same result as replacing every run, without rewriting each word gap of a long paragraph.
_SPACES = re.compile(rf" {_WS}+|[\t\u00a0\u2000-\u200a\u202f\u205f\u3000]{_WS}*")


# Package data shipped next to this module (the one disk read transforms may do).
_DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class _Rule:
    name: str
    regex: re.Pattern[str]
    max_words: int
    unless: re.Pattern[str] | None
    # literal substrings (case-folded) of which a matching line holds at least one; a line holding
    # none skips the regex, which is where the time went (the leading ``.{0,150}`` backtracks)
    hints: tuple[str, ...]

    def applies(self, core: str, folded: str, n_words: int) -> bool:
        """True when the rule's regex matches the whole line and its guard does not."""
        if n_words > self.max_words:
            return False
        if self.hints and not any(h in folded for h in self.hints):
            return False
        return bool(self.regex.fullmatch(core)) and not (self.unless and self.unless.search(core))


@dataclass(frozen=True)
class _Rules:
    line: tuple[_Rule, ...]
    inline: tuple[_Rule, ...]
    head: tuple[_Rule, ...]
    footer: tuple[_Rule, ...]
    vocab: tuple[tuple[frozenset[str], int], ...]
    vocab_words: frozenset[str]  # union of the vocab lists
    vocab_max_words: int  # largest max_words of the vocab lists


def _compile(entry: dict, default_max: int) -> _Rule:
    flags = 0 if entry.get("case_sensitive") else re.IGNORECASE
    unless = entry.get("unless")
    return _Rule(
        name=entry["name"],
        regex=re.compile(entry["pattern"], flags),
        max_words=int(entry.get("max_words", default_max)),
        unless=re.compile(unless, re.IGNORECASE) if unless else None,
        hints=tuple(h.casefold() for h in entry.get("hints", ())),
    )


@functools.cache
def load_rules() -> _Rules:
    """Load and compile ``transforms/data/boilerplate.toml`` (cached)."""
    raw = (_DATA_DIR / "boilerplate.toml").read_text(encoding="utf-8")
    data = tomllib.loads(raw)
    vocab = tuple(
        (frozenset(w.lower() for w in v["words"]), int(v.get("max_words", 10)))
        for v in data.get("vocab", {}).values()
    )
    return _Rules(
        vocab_words=frozenset().union(*(words for words, _ in vocab)),
        vocab_max_words=max((limit for _, limit in vocab), default=0),
        line=tuple(_compile(e, 40) for e in data.get("line", [])),
        inline=tuple(_compile(e, 10_000) for e in data.get("inline", [])),
        head=tuple(_compile(e, 40) for e in data.get("head", [])),
        footer=tuple(_compile(e, 10_000) for e in data.get("footer", [])),
        vocab=vocab,
    )


# ---------------------------------------------------------------------------- normalisation
_PUNCT_HINT = re.compile(r"\s[,;.]|[,;.]\s*[,;.]|^[,;.]")
_PUNCT_FIXES = (
    (re.compile(r"\s+([,;])"), r"\1"),  # "word ," -> "word,"
    (re.compile(r"(?<=[\w\"”’')\]])\s+\.(?=\s|$)"), "."),  # "word ." -> "word."
    (re.compile(r"\.(?:\s*\.)?\s*,"), ","),  # "Strait. , according" -> "Strait, according"
    (re.compile(r"(?<=[\w\"”’')\]])\.\s+\.(?=\s|$)"), "."),  # "Trump. ." -> "Trump."
    (re.compile(r"([,;])(?:\s*[,;])+"), r"\1"),  # ", ," -> ","
    (re.compile(r"^[,;.]\s*(?=\w)"), ""),  # stray leading punctuation
)


@functools.lru_cache(maxsize=LINE_CACHE_SIZE)
def _normalize_line(line: str) -> str:
    line = _SPACES.sub(" ", line).strip()
    if not _PUNCT_HINT.search(line):
        return line
    for _ in range(_MAX_PASSES):
        before = line
        for regex, repl in _PUNCT_FIXES:
            line = regex.sub(repl, line)
        line = _SPACES.sub(" ", line).strip()
        if line == before:
            break
    return line


@functools.lru_cache(maxsize=256)  # metadata clues and the cleaner read the same text several times
def normalize_text(text: str) -> str:
    """Text-level cleaner for plain-text input: drop the ' date YYYY-MM-DD' header, control and
    zero-width characters, collapse whitespace and punctuation artefacts; one line per paragraph."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    while _DATE_HEADER.match(text):
        text = _DATE_HEADER.sub("", text, count=1)
    text = _ZERO_WIDTH.sub("", text)
    text = _CONTROL.sub(" ", text)
    lines = (_normalize_line(line) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


# ---------------------------------------------------------------------------- line classes
# Every function below depends on the line alone, and the stage asks about the same line several
# times (before and after inline fragments are cut, once per fixed-point pass, the headline search),
# so results are memoised per line.
@functools.lru_cache(maxsize=LINE_CACHE_SIZE)
def line_key(line: str) -> str:
    """Comparison key of a line: lower-cased word tokens (punctuation and bullets ignored)."""
    return " ".join(_WORD.findall(line.lower()))


def _core(line: str) -> str:
    return _BULLET.sub("", line).strip()


def _n_words(line: str) -> int:
    return len(line.split())


def _vocab_line(core: str, rules: _Rules) -> bool:
    # stops at the first word outside every list: story lines fail within a word or two
    tokens: list[str] = []
    for m in _VOCAB_TOKEN.finditer(core.lower()):
        token = m.group()
        if token not in rules.vocab_words or len(tokens) >= rules.vocab_max_words:
            return False
        tokens.append(token)
    if not tokens:
        return False
    return any(len(tokens) <= limit and all(t in words for t in tokens) for words, limit in rules.vocab)


def _rule_hit(rules: tuple[_Rule, ...], core: str, n_words: int) -> str | None:
    folded = core.casefold()
    for rule in rules:
        if rule.applies(core, folded, n_words):
            return rule.name
    return None


@functools.lru_cache(maxsize=LINE_CACHE_SIZE)
def _line_class(line: str) -> tuple[str, str | None]:
    """(core, rule name or None) of a line, learned lines aside."""
    core = _core(line)
    if not _WORD.search(core):
        return core, "no_words"
    rules = load_rules()
    if _vocab_line(core, rules):
        return core, "vocab"
    return core, _rule_hit(rules.line, core, _n_words(core))


def classify_line(line: str, learned: frozenset[str] = frozenset()) -> str | None:
    """Name of the strong boilerplate rule a line matches ('learned', 'vocab', a rule name) or None."""
    core, name = _line_class(line)
    if name == "no_words":
        return name
    if learned and line_key(core) in learned:
        return "learned"
    return name


def _is_short_nonsentence(line: str, max_words: int) -> bool:
    core = _core(line)
    return _n_words(core) <= max_words and not _SENTENCE_END.search(core)


@functools.lru_cache(maxsize=LINE_CACHE_SIZE)
def _is_head_stamp(line: str) -> bool:
    core = _core(line)
    return _rule_hit(load_rules().head, core, _n_words(core)) is not None


def _is_link_item(line: str) -> bool:
    """A bulleted headline: '- The Game-Changing Oil for Dry Hair and Split Ends'."""
    if not _BULLET.match(line):
        return False
    core = _core(line)
    if not (LINK_ITEM_MIN_WORDS <= _n_words(core) <= RELATED_ITEM_MAX_WORDS) or _SENTENCE_END.search(core):
        return False
    long_words = [w for w in _LETTERS.findall(core) if len(w) >= 4]
    capitals = sum(1 for w in long_words if w[0].isupper())
    return bool(long_words) and capitals >= TITLE_CASE_MIN_SHARE * len(long_words)


@functools.lru_cache(maxsize=LINE_CACHE_SIZE)
def _is_weak(line: str) -> bool:
    core = _core(line)
    if _is_short_nonsentence(core, SHORT_LINE_MAX_WORDS):
        return True
    return _rule_hit(load_rules().footer, core, _n_words(core)) is not None


@functools.lru_cache(maxsize=LINE_CACHE_SIZE)
def _strip_inline(line: str) -> str:
    folded = line.casefold()
    for rule in load_rules().inline:
        if not rule.hints or any(h in folded for h in rule.hints):
            line = rule.regex.sub(" ", line)
            folded = line.casefold()
    return _normalize_line(line)


# ---------------------------------------------------------------------------- the stage
def _footer_cut(lines: list[str], strong: list[str | None]) -> int:
    """Index where the trailing footer zone starts (len(lines) when there is none)."""
    cut = len(lines)
    for i in range(len(lines) - 1, -1, -1):
        if strong[i]:
            cut = i
        elif not _is_weak(lines[i]):
            break
    return cut


def _trailing_link_list(lines: list[str]) -> range:
    """A list of bulleted headlines closing the text with no head above it (links to other stories)."""
    start = len(lines)
    while start > 0 and _is_link_item(lines[start - 1]):
        start -= 1
    return range(start, len(lines)) if len(lines) - start >= LINK_LIST_MIN_ITEMS else range(0)


def _related_blocks(lines: list[str], strong: list[str | None]) -> set[int]:
    """Headline-like lines listed under a 'Related'/'Read more' head."""
    drop: set[int] = set()
    for i, name in enumerate(strong):
        if name != "related_read_more":
            continue
        j = i + 1
        while j < len(lines) and (
            strong[j] or _is_short_nonsentence(lines[j], RELATED_ITEM_MAX_WORDS)
        ):
            drop.add(j)
            j += 1
    return drop


def _header_drop(lines: list[str], title_key: str) -> set[int]:
    """The headline wherever repeated, and category labels right above its first occurrence."""
    hits = [i for i, line in enumerate(lines) if line_key(line) == title_key]
    if not hits:
        return set()
    drop = set(hits)
    first = hits[0]
    if first < HEADER_MAX_LINES:
        for i in range(first):
            if _is_short_nonsentence(lines[i], CATEGORY_MAX_WORDS):
                drop.add(i)
    return drop


def strip_boilerplate(
    text: str, *, title: str | None = None, learned: frozenset[str] = frozenset()
) -> str:
    """Remove boilerplate lines and fragments from a normalised text; paragraphs joined by one blank line."""
    # Removing a line can expose another (a header line now first, a footer now last); each pass
    # only deletes, so repeating to a fixed point is cheap and makes the stage idempotent.
    out = _strip_once(text, title, learned)
    for _ in range(_MAX_PASSES):
        again = _strip_once(out, title, learned)
        if again == out:
            break
        out = again
    return out


def _strip_once(text: str, title: str | None, learned: frozenset[str]) -> str:
    while _DATE_HEADER.match(text):
        text = _DATE_HEADER.sub("", text, count=1)
    lines = [line for line in (_normalize_line(x) for x in text.split("\n")) if line]
    strong = [classify_line(line, learned) for line in lines]
    keep = [True] * len(lines)
    for i in range(_footer_cut(lines, strong), len(lines)):
        keep[i] = False
    for i in _related_blocks(lines, strong):
        keep[i] = False
    for i in _trailing_link_list(lines):
        keep[i] = False
    for i in range(min(HEAD_ZONE_LINES, len(lines))):
        if _is_head_stamp(lines[i]):
            keep[i] = False
    for i, name in enumerate(strong):
        if name:
            keep[i] = False
    title_key = line_key(title) if title else ""
    if title_key:
        for i in _header_drop(lines, title_key):
            keep[i] = False
    out: list[str] = []
    for line, k in zip(lines, keep):
        if not k:
            continue
        line = _strip_inline(line)
        if line and _WORD.search(line) and not classify_line(line, learned):
            if title_key and line_key(line) == title_key:
                continue
            out.append(line)
    return "\n\n".join(out)


def clean_text(
    text: str, *, title: str | None = None, learned: frozenset[str] = frozenset()
) -> str:
    """Plain-text path: ``normalize_text`` then ``strip_boilerplate``; returns the clean body."""
    return strip_boilerplate(normalize_text(text), title=title, learned=learned)


# ---------------------------------------------------------------------------- batch learning
def learn_repeated_lines(docs: pl.DataFrame) -> pl.DataFrame:
    """docs: group (str), text (str, one paragraph per line) -> group, line_key, n_docs: short
    lines recurring in many articles of the same group (learned boilerplate)."""
    if docs.height == 0:
        return pl.DataFrame(schema={"group": pl.String, "line_key": pl.String, "n_docs": pl.UInt32})
    frame = (
        docs.select(
            pl.col("group").fill_null(""),
            pl.int_range(pl.len()).alias("_doc"),
            pl.col("text").fill_null("").str.split("\n").alias("line"),
        )
        .explode("line")
        .with_columns(
            pl.col("line")
            .str.to_lowercase()
            .str.extract_all(r"\w+")
            .list.join(" ")
            .alias("line_key")
        )
        .with_columns(pl.col("line_key").str.count_matches(" ").add(1).alias("_words"))
        .filter((pl.col("line_key") != "") & (pl.col("_words") <= LEARNED_MAX_WORDS))
        .unique(["_doc", "line_key"])
    )
    sizes = docs.select(pl.col("group").fill_null("")).group_by("group").agg(pl.len().alias("_size"))
    return (
        frame.group_by("group", "line_key")
        .agg(pl.len().cast(pl.UInt32).alias("n_docs"))
        .join(sizes, on="group")
        .filter(
            (pl.col("n_docs") >= LEARNED_MIN_DOCS)
            & (pl.col("n_docs") >= pl.col("_size") * LEARNED_MIN_SHARE)
        )
        .select("group", "line_key", "n_docs")
        .sort("group", "n_docs", "line_key", descending=[False, True, False])
    )
