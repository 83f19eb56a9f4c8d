"""HTML -> main text + HTML metadata, with trafilatura (comments off) on pre-cleaned HTML.

Pure: an HTML string in, plain values out (trafilatura's extraction is string in, string out).
Pre-cleaning drops boxes that trafilatura keeps inside ``<article>`` whatever its precision setting
(DESIGN.md, known traps): containers labelled "Sponsored Content", "Advertisement", "Related
Articles", ..., and elements whose class or id names a promo, sponsor, newsletter or share widget.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import lxml.html
import trafilatura
from lxml import etree
from trafilatura.utils import load_html

# A labelled box is removed with its container only when the container holds at most this many
# characters of text: sponsor and related boxes are short, an article body is not. 1500 chars
# (about 250 words) was the largest such box seen on the trafilatura_en / newspaper4k pages.
BOX_MAX_CHARS = 1500

# A widget holds link lists and one-liners; two or more paragraphs longer than this mark story text
# (short news items fit under BOX_MAX_CHARS, so length alone is not enough).
BODY_PARAGRAPH_CHARS = 150

# trafilatura precision/recall switch, measured with bench/extraction.py (2026-11, after our
# boilerplate stage): favor_precision gives the same newspaper4k F1 (0.804) with fewer leftover
# lines (445 vs 644) but lower recall (0.784 vs 0.810) and fewer trafilatura_en "with" snippets
# kept (0.911 vs 0.933). Real content is never to be dropped, so the balanced default is kept.
FAVOR_PRECISION = False
FAVOR_RECALL = False

# htmldate's extensive search guesses a date from any date-like string in the page; with it off
# only metadata, URL and structural markup count, so we don't invent a publication date.
DATE_PARAMS = {"extensive_search": False, "original_date": True}

_LABEL = re.compile(
    r"^\s*(about\s+)?(sponsored( content| stories| links| by\b.*)?|paid (content|post)|"
    r"partner content|promoted( content| stories)?|advertisement|advertising|"
    r"related (articles|stories|content|posts|coverage|links)|more (stories|from .{1,40})|"
    r"recommended( for you| stories)?|you (may|might) also like|most (read|popular|viewed)|"
    r"trending( now)?|read (more|next)|sign up for .{1,60}|newsletter)\s*:?\s*$",
    re.IGNORECASE,
)
# A class or id token that *starts* with one of these names a widget, not a body: "ad-container",
# "social-share-buttons", "newsletter-signup", "more-stories". Only whole tokens are tested, so
# "entry-content-read-more" (an article body on pagesix.com) is not taken for a "read-more" link.
_PROMO_TOKEN = re.compile(
    r"(sponsor(ed)?|promo(tion)?s?|advert(isement)?s?|ad|ads|adslot|ad-?(slot|unit|container|wrapper|box)|"
    r"outbrain|taboola|zergnet|newsletter|signup|sign-up|subscribe|subscription|paywall|"
    r"share|sharing|social-?share|social-?links|related-?(articles|stories|posts|content|links)|"
    r"recommended|more-?stories|app-?promo|breadcrumbs?)([-_].*)?",
    re.IGNORECASE,
)
_KEEP_TAGS = {"html", "body", "article", "main"}
_CONTAINERS = {"div", "section", "aside", "figure", "ul", "ol", "table", "p", "span", "header", "footer", "nav"}


@dataclass(frozen=True)
class Extracted:
    """Main text and metadata of one HTML page."""

    text: str
    title: str | None
    published_date: date | None
    sitename: str | None
    hostname: str | None
    description: str | None


def _text_len(el: etree._Element) -> int:
    return len(" ".join(el.itertext()).strip())


def _is_box(el: etree._Element) -> bool:
    """Small enough to be a widget, and not holding the story's paragraphs."""
    if _text_len(el) > BOX_MAX_CHARS:
        return False
    long_paragraphs = sum(1 for p in el.iter("p") if _text_len(p) > BODY_PARAGRAPH_CHARS)
    return long_paragraphs < 2


def _drop(el: etree._Element) -> None:
    parent = el.getparent()
    if parent is None:
        return
    tail = el.tail
    if tail and tail.strip():
        prev = el.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(el)


def preclean_html(tree: lxml.html.HtmlElement) -> lxml.html.HtmlElement:
    """Remove labelled sponsor/related/promo boxes and promo-named widgets from a parsed page, in place."""
    doomed: list[etree._Element] = []
    for el in tree.iter():
        if not isinstance(el.tag, str) or el.tag in _KEEP_TAGS:
            continue
        tokens = f"{el.get('class', '')} {el.get('id', '')}".split()
        if any(_PROMO_TOKEN.fullmatch(t) for t in tokens) and _is_box(el):
            doomed.append(el)
            continue
        own = (el.text or "").strip()
        if own and len(own) < 80 and len(el) == 0 and _LABEL.match(own):
            # the label's own container is the box (one level up, never the article body)
            parent = el.getparent()
            if parent is not None and parent.tag in _CONTAINERS and _is_box(parent):
                doomed.append(parent)
            else:
                doomed.append(el)
    for el in doomed:
        if el.getparent() is not None:
            _drop(el)
    return tree


def _parse_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def extract_html(html: str, url: str | None = None, *, preclean: bool = True) -> Extracted:
    """Main text (one paragraph per line, '' when none) and metadata of an HTML page."""
    empty = Extracted("", None, None, None, None, None)
    if not html or not html.strip():
        return empty
    try:
        tree = load_html(html)  # handles encoding declarations and broken markup
    except (etree.ParserError, ValueError, TypeError):
        return empty
    if tree is None:
        return empty
    if preclean:
        tree = preclean_html(tree)
    doc = trafilatura.bare_extraction(
        tree,
        url=url,
        include_comments=False,
        include_tables=True,
        favor_precision=FAVOR_PRECISION,
        favor_recall=FAVOR_RECALL,
        with_metadata=True,
        date_extraction_params=DATE_PARAMS,
    )
    if doc is None:
        return empty
    return Extracted(
        text=doc.text or "",
        title=(doc.title or None),
        published_date=_parse_date(doc.date),
        sitename=(doc.sitename or None),
        hostname=(doc.hostname or None),
        description=(doc.description or None),
    )
