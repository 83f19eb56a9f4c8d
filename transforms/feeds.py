"""Parse what the fetcher brings back: feeds, sitemaps, URL lists, page bytes.

Pure: bytes in, plain values or Polars frames out. No network, no disk, no clock.

- Feeds: RSS 0.9x/1.0/2.0 and Atom via feedparser; JSON Feed (1.0/1.1) by hand, since
  feedparser 6.0 does not read it.
- Sitemaps: ``<urlset>`` (with Google News and lastmod fields), ``<sitemapindex>``, gzipped
  sitemaps and plain-text sitemaps (one URL a line).
- XML bombs: every XML document is first parsed with defusedxml, refusing entity declarations
  and external references (billion laughs, quadratic blowup, XXE) before feedparser sees it.
- URL canonicalisation with courlan (lower-cased scheme/host, default port dropped, tracking
  query parameters removed, query sorted, fragment dropped). IP and ``localhost`` hosts are
  kept: refusing private addresses is the HTTP client's job (flows/sources/http.py), done on every hop.
"""

from __future__ import annotations

import codecs
import email.utils
import io
import json
import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit, urlunsplit

import courlan
import defusedxml.ElementTree as safe_etree
import feedparser
import polars as pl
from defusedxml import DefusedXmlException

# Sitemaps protocol: a sitemap may hold at most 50,000 URLs and 50 MB uncompressed
# (sitemaps.org/protocol.html); the same cap stops a gzip bomb.
MAX_DECOMPRESSED_BYTES = 50 * 1024 * 1024
MAX_SITEMAP_URLS = 50_000
# JSON Feeds nest two or three levels; anything deeper is hostile or broken.
MAX_JSON_DEPTH = 32

FEED_ENTRY_SCHEMA = {
    "url": pl.String,
    "link": pl.String,
    "title": pl.String,
    "guid": pl.String,
    "published_at": pl.Datetime("us", "UTC"),
}
SITEMAP_URL_SCHEMA = {
    "url": pl.String,
    "lastmod": pl.Datetime("us", "UTC"),
    "news_title": pl.String,
    "news_published_at": pl.Datetime("us", "UTC"),
}


class FeedError(ValueError):
    """Base class: the document cannot be used; ``reason`` is the rejects reason."""

    reason = "malformed_feed"


class XmlBombError(FeedError):
    """The XML declares entities or external references (entity-expansion attack)."""

    reason = "xml_bomb"


class MalformedFeedError(FeedError):
    """The bytes are not a feed feedparser or the JSON Feed reader understands."""

    reason = "malformed_feed"


class MalformedSitemapError(FeedError):
    """The bytes are not a sitemap, sitemap index or text sitemap."""

    reason = "malformed_sitemap"


class DecompressedTooLargeError(FeedError):
    """A gzipped document inflates beyond MAX_DECOMPRESSED_BYTES."""

    reason = "too_large"


@dataclass(frozen=True)
class ParsedFeed:
    """A parsed feed: its format (e.g. ``rss20``, ``atom10``, ``json11``), title and entries."""

    format: str
    title: str | None
    entries: pl.DataFrame


@dataclass(frozen=True)
class ParsedSitemap:
    """A parsed sitemap: page URLs (``urlset``/text) and child sitemaps (``sitemapindex``)."""

    kind: str  # "urlset" | "sitemapindex" | "text"
    urls: pl.DataFrame
    sitemaps: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# URLs


def canonicalize_url(url: str | None, base_url: str | None = None) -> str | None:
    """Return the canonical http(s) form of ``url`` (resolved against ``base_url``), or None.

    None means unusable: empty, another scheme, no host, or credentials in the URL.
    """
    if not url or not url.strip():
        return None
    raw = url.strip()
    if base_url:
        raw = urljoin(base_url, raw)
    try:
        scrubbed = courlan.scrub_url(raw)
        parts = urlsplit(scrubbed)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            return None
        if parts.username is not None or parts.password is not None:
            return None
        normalised = courlan.normalize_url(parts, strict=False)
    except (ValueError, AttributeError, UnicodeError):
        return None
    # courlan keeps fragments (normalised); an article is the same page whatever its anchor.
    norm = urlsplit(normalised)
    path = _remove_dot_segments(norm.path) or "/"
    return urlunsplit((norm.scheme, norm.netloc, path, norm.query, ""))


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4: resolve ``.`` and ``..`` in a path."""
    if "." not in path:
        return path
    out: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if len(out) > 1:
                out.pop()
        elif segment != ".":
            out.append(segment)
    if path.endswith(("/.", "/..")):
        out.append("")
    return "/".join(out)


def host_of(url: str) -> str:
    """Return ``host[:port]`` of a URL, lower-cased: the key for per-host politeness."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port else host


def parse_url_list(text: str, base_url: str | None = None) -> list[str]:
    """Return the URLs of a URL list: one a line; blank lines and ``#`` comments skipped.

    Lines are returned as written (stripped), not canonicalised, so that the caller can
    reject the unusable ones by name.
    """
    out: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        out.append(urljoin(base_url, line) if base_url else line)
    return out


# --------------------------------------------------------------------------------------------
# Safety


_ENTITY_DECL = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)
_DOCTYPE_SUBSET = re.compile(rb"<!DOCTYPE[^>\[]*\[", re.IGNORECASE)


def check_xml_safe(data: bytes) -> None:
    """Raise XmlBombError if ``data`` declares entities or references external ones.

    A plain ``<!DOCTYPE rss PUBLIC ...>`` (old Netscape RSS 0.91 feeds) is allowed; it is
    never fetched.
    """
    try:
        safe_etree.fromstring(
            data, forbid_dtd=False, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        raise XmlBombError(f"{type(exc).__name__}: {exc}") from None
    except (safe_etree.ParseError, ValueError, LookupError):
        # Not well-formed: feedparser will fall back to its loose parser. Refuse anyway when an
        # internal DTD subset or entity declaration is present (also in UTF-16 documents).
        probe = data[: 1024 * 1024].replace(b"\x00", b"")
        if _ENTITY_DECL.search(probe) or _DOCTYPE_SUBSET.search(probe):
            raise XmlBombError("entity declaration in malformed XML") from None


def _strip_bom_ws(data: bytes) -> bytes:
    for bom in (codecs.BOM_UTF8,):
        if data.startswith(bom):
            data = data[len(bom) :]
    return data.lstrip()


def maybe_gunzip(data: bytes, max_bytes: int = MAX_DECOMPRESSED_BYTES) -> bytes:
    """Inflate gzip bytes (magic ``1f 8b``) with a cap; other bytes are returned unchanged."""
    if not data.startswith(b"\x1f\x8b"):
        return data
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise MalformedSitemapError(f"bad gzip: {exc}") from None
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise DecompressedTooLargeError(f"inflates beyond {max_bytes} bytes")
    return out


# --------------------------------------------------------------------------------------------
# Feeds


def _struct_to_utc(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def _parse_w3c_datetime(value: str | None) -> datetime | None:
    """Parse W3C/ISO 8601 and RFC 3339 dates; naive values are taken as UTC."""
    if not value or not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:  # RFC 822 dates, as in RSS
            parsed = email.utils.parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _entry_link(entry) -> str | None:
    links = entry.get("links") or []
    for rel in ("alternate", None):
        for link in links:
            if link.get("href") and (rel is None or link.get("rel", "alternate") == rel):
                if rel is None and link.get("rel") in ("self", "enclosure", "replies"):
                    continue
                return link["href"]
    if entry.get("link"):
        return entry["link"]
    guid = entry.get("id") or ""
    if entry.get("guidislink") or guid.startswith(("http://", "https://")):
        return guid
    return None


def _entries_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=FEED_ENTRY_SCHEMA, orient="row") if rows else pl.DataFrame(
        schema=FEED_ENTRY_SCHEMA
    )


def _finish_entries(rows: list[dict], base_url: str | None) -> pl.DataFrame:
    """Canonicalise links, drop unusable ones, keep the first of each canonical URL."""
    seen: set[str] = set()
    out = []
    for row in rows:
        url = canonicalize_url(row["link"], base_url)
        if url is None or url in seen:
            continue
        seen.add(url)
        out.append({**row, "url": url})
    return _entries_frame(out)


def _depth(value, limit: int, level: int = 0) -> int:
    if level > limit:
        return level
    if isinstance(value, dict):
        return max((_depth(v, limit, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, limit, level + 1) for v in value), default=level)
    return level


def _parse_json_feed(data: bytes, base_url: str | None) -> ParsedFeed:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise MalformedFeedError(f"bad JSON: {str(exc)[:200]}") from None
    if not isinstance(doc, dict) or "jsonfeed.org/version" not in str(doc.get("version", "")):
        raise MalformedFeedError("JSON without a jsonfeed.org version")
    if _depth(doc, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise MalformedFeedError("JSON nested too deeply")
    items = doc.get("items")
    if not isinstance(items, list):
        raise MalformedFeedError("JSON Feed without an items list")
    version = str(doc["version"]).rstrip("/").rsplit("/", 1)[-1].replace(".", "")
    base = doc.get("home_page_url") if isinstance(doc.get("home_page_url"), str) else None
    rows = []
    for item in items:
        if not isinstance(item, dict):
            continue
        link = item.get("url") or item.get("external_url")
        if not isinstance(link, str):
            ident = item.get("id")
            link = ident if isinstance(ident, str) and ident.startswith("http") else None
        rows.append(
            {
                "link": link,
                "title": item.get("title") if isinstance(item.get("title"), str) else None,
                "guid": str(item["id"]) if item.get("id") is not None else None,
                "published_at": _parse_w3c_datetime(
                    item.get("date_published") or item.get("date_modified")
                ),
            }
        )
    title = doc.get("title") if isinstance(doc.get("title"), str) else None
    return ParsedFeed(f"json{version}", title, _finish_entries(rows, base_url or base))


def parse_feed(data: bytes, base_url: str | None = None) -> ParsedFeed:
    """Parse RSS 0.9x/1.0/2.0, Atom or JSON Feed bytes into entries.

    Output ``entries`` columns: url (canonical, unique), link (as written), title, guid,
    published_at (UTC, null when absent). Raises XmlBombError, MalformedFeedError.
    """
    body = _strip_bom_ws(data)
    if body.startswith((b"{", b"[")):
        return _parse_json_feed(body, base_url)
    check_xml_safe(data)
    headers = {"content-location": base_url} if base_url else {}
    # BytesIO: a bare string would make feedparser treat it as a URL or a file path.
    parsed = feedparser.parse(
        io.BytesIO(data),
        response_headers=headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    version = parsed.get("version") or ""
    if not version and not parsed.entries:
        detail = str(parsed.get("bozo_exception") or "not a feed")
        raise MalformedFeedError(detail[:200])
    rows = [
        {
            "link": _entry_link(entry),
            "title": entry.get("title"),
            "guid": entry.get("id"),
            "published_at": _struct_to_utc(
                entry.get("published_parsed") or entry.get("updated_parsed")
            ),
        }
        for entry in parsed.entries
    ]
    return ParsedFeed(version or "unknown", parsed.feed.get("title"), _finish_entries(rows, base_url))


# --------------------------------------------------------------------------------------------
# Sitemaps


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def _child_text(element, name: str) -> str | None:
    for child in element:
        if _local(child.tag) == name:
            return (child.text or "").strip() or None
    return None


_LOC_RE = re.compile(rb"<(?:\w+:)?loc>\s*(?:<!\[CDATA\[)?\s*(.*?)\s*(?:\]\]>)?\s*</(?:\w+:)?loc>", re.S)


def _sitemap_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SITEMAP_URL_SCHEMA, orient="row") if rows else pl.DataFrame(
        schema=SITEMAP_URL_SCHEMA
    )


def _canonical_rows(rows: list[dict], base_url: str | None) -> list[dict]:
    seen: set[str] = set()
    out = []
    for row in rows[:MAX_SITEMAP_URLS]:
        url = canonicalize_url(row["url"], base_url)
        if url and url not in seen:
            seen.add(url)
            out.append({**row, "url": url})
    return out


def parse_sitemap(data: bytes, base_url: str | None = None) -> ParsedSitemap:
    """Parse a sitemap, sitemap index, news sitemap, gzipped or text sitemap.

    Output ``urls`` columns: url (canonical, unique), lastmod, news_title, news_published_at
    (UTC datetimes, null when absent); ``sitemaps``: canonical child sitemap URLs.
    Raises XmlBombError, MalformedSitemapError, DecompressedTooLargeError.
    """
    data = maybe_gunzip(data)
    body = _strip_bom_ws(data)
    if not body.startswith(b"<"):
        text = body.decode("utf-8", errors="replace")
        lines = [ln for ln in parse_url_list(text) if ln.startswith(("http://", "https://"))]
        if not lines:
            raise MalformedSitemapError("neither XML nor a list of URLs")
        rows = [{"url": ln, "lastmod": None, "news_title": None, "news_published_at": None} for ln in lines]
        return ParsedSitemap("text", _sitemap_frame(_canonical_rows(rows, base_url)))
    check_xml_safe(data)
    try:
        root = safe_etree.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:  # pragma: no cover - check_xml_safe caught it already
        raise XmlBombError(str(exc)) from None
    except safe_etree.ParseError:
        # Broken XML is common in the wild; the <loc> elements are still readable.
        locs = [m.decode("utf-8", "replace") for m in _LOC_RE.findall(data)]
        if not locs:
            raise MalformedSitemapError("malformed XML without <loc>") from None
        is_index = b"sitemapindex" in data[:2048].lower()
        if is_index:
            kids = [u for u in (canonicalize_url(x, base_url) for x in locs) if u]
            return ParsedSitemap("sitemapindex", _sitemap_frame([]), list(dict.fromkeys(kids)))
        rows = [{"url": x, "lastmod": None, "news_title": None, "news_published_at": None} for x in locs]
        return ParsedSitemap("urlset", _sitemap_frame(_canonical_rows(rows, base_url)))
    kind = _local(root.tag)
    if kind == "sitemapindex":
        kids = []
        for element in root:
            if _local(element.tag) == "sitemap":
                url = canonicalize_url(_child_text(element, "loc"), base_url)
                if url:
                    kids.append(url)
        return ParsedSitemap("sitemapindex", _sitemap_frame([]), list(dict.fromkeys(kids)))
    if kind != "urlset":
        raise MalformedSitemapError(f"root element <{kind}> is not urlset or sitemapindex")
    rows = []
    for element in root:
        if _local(element.tag) != "url":
            continue
        news_title = news_date = None
        for child in element:
            if _local(child.tag) == "news":
                news_title = _child_text(child, "title")
                news_date = _parse_w3c_datetime(_child_text(child, "publication_date"))
        rows.append(
            {
                "url": _child_text(element, "loc"),
                "lastmod": _parse_w3c_datetime(_child_text(element, "lastmod")),
                "news_title": news_title,
                "news_published_at": news_date,
            }
        )
    return ParsedSitemap("urlset", _sitemap_frame(_canonical_rows(rows, base_url)))
