"""Decode fetched page bytes and tell HTML from everything else.

Pure: bytes and a Content-Type header in, text out. No network, no disk, no clock.
"""

from __future__ import annotations

import codecs
import re

# Meta charset declarations must sit in the first 1024 bytes (HTML spec); we look a bit further
# because real pages put long comments first.
CHARSET_SNIFF_BYTES = 4096


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
# WHATWG Encoding Standard: these labels mean windows-1252 in browsers.
_WHATWG_ALIASES = {"iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252",
                   "us-ascii": "cp1252", "ascii": "cp1252", "l1": "cp1252"}
HTML_CONTENT_TYPES = ("text/html", "application/xhtml+xml")


def _charset_from_content_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = re.search(r"charset\s*=\s*\"?([^\s;\"]+)", content_type, re.I)
    return match.group(1) if match else None


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().lower()
    label = _WHATWG_ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def decode_page(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """Decode page bytes to text; return (text, codec name).

    Order: byte-order mark, Content-Type charset, ``<meta charset>``, UTF-8, then windows-1252
    (never fails: undecodable bytes become U+FFFD).
    """
    for bom, name in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"),
                      (codecs.BOM_UTF16_BE, "utf-16")):
        if body.startswith(bom):
            return body.decode(name, errors="replace").lstrip("\ufeff"), name
    candidates = [_codec(_charset_from_content_type(content_type))]
    meta = _META_CHARSET.search(body[:CHARSET_SNIFF_BYTES])
    candidates.append(_codec(meta.group(1).decode("ascii", "ignore")) if meta else None)
    candidates += ["utf-8"]
    for name in candidates:
        if not name:
            continue
        try:
            return body.decode(name), name
        except (UnicodeDecodeError, LookupError):
            continue
    return body.decode("cp1252", errors="replace"), "cp1252"


def looks_like_html(content_type: str | None, head: bytes = b"") -> bool:
    """True when the Content-Type says HTML, or is missing/generic and the bytes look like HTML."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in HTML_CONTENT_TYPES:
        return True
    if media in ("", "application/octet-stream", "text/plain"):
        probe = head[:1024].lstrip().lower()
        return probe.startswith((b"<!doctype html", b"<html")) or b"<html" in probe
    return False
