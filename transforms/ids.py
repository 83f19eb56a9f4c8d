"""Stable identifiers: the same input always gets the same id, on any machine."""

from __future__ import annotations

import hashlib

#: 16 hex chars = 64 bits: a collision among 100 million articles has odds of about 3 in 10,000.
ID_HEX_CHARS = 16


def stable_id(*parts: str) -> str:
    """Hash the parts (joined unambiguously) into a short hex id."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:ID_HEX_CHARS]


def article_identity(source: str, raw_sha256: str | None, url: str | None) -> str:
    """What makes two inputs the same article: the canonical URL, else the file path plus its bytes."""
    if url:
        return f"url:{url}"
    return f"file:{source}:{raw_sha256 or ''}"
