"""Discover and read local article files (.txt, .html, .htm) into a documents frame, rejecting bad ones."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from charset_normalizer import from_bytes

from flows.warehouse import Reject

SUFFIX_KIND = {".txt": "text", ".html": "html", ".htm": "html"}
#: Bytes inspected for binary content. 8 KB is what git and file(1) look at.
SNIFF_BYTES = 8192
#: Share of control characters (other than whitespace) above which a file is binary, not text.
#: Real text in any encoding has well under 1%; images and archives have 10%+.
MAX_CONTROL_SHARE = 0.05
#: charset_normalizer "chaos" above which no encoding reads the bytes as text (its own default is 0.2).
MAX_CHAOS = 0.35

#: UTF-16 text is full of NUL bytes; its byte-order mark says it is text, not binary.
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

#: Single-byte codepages that charset_normalizer confuses with cp1252 on short Western texts.
SINGLE_BYTE_EUROPEAN = {"cp1250", "cp1257", "iso8859_2", "iso8859_4", "iso8859_13", "iso8859_15", "latin_1", "mac_latin2"}

DOCUMENT_SCHEMA = {
    "source": pl.Utf8,
    "kind": pl.Utf8,
    "content": pl.Utf8,
    "url": pl.Utf8,
    "raw_sha256": pl.Utf8,
    "first_seen_at": pl.Datetime("us", "UTC"),
}


@dataclass(frozen=True)
class InputFile:
    """A file to load and the source name it gets (its path relative to the input root)."""

    path: Path
    source: str


def discover_files(paths: list[Path]) -> tuple[list[InputFile], list[Reject]]:
    """Expand files and folders into article files; name missing paths and unsupported files as rejects."""
    found: dict[Path, InputFile] = {}
    rejects: list[Reject] = []
    for given in paths:
        if given.is_dir():
            for path in sorted(given.rglob("*")):
                # Broken symlinks are kept so that they end up as `unreadable` rejects, not silently skipped.
                wanted = path.is_file() or (path.is_symlink() and not path.exists())
                if wanted and path.suffix.lower() in SUFFIX_KIND and not path.name.startswith("."):
                    found.setdefault(path.resolve(), InputFile(path, path.relative_to(given).as_posix()))
        elif given.is_file() or given.is_symlink():
            if given.suffix.lower() not in SUFFIX_KIND:
                rejects.append(Reject(str(given), "unsupported_type", f"not one of {sorted(SUFFIX_KIND)}"))
            else:
                found.setdefault(given.resolve(), InputFile(given, given.name))
        else:
            rejects.append(Reject(str(given), "not_found", "no such file or folder"))
    return list(found.values()), rejects


def _is_binary(head: bytes) -> bool:
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return bool(head) and controls / len(head) > MAX_CONTROL_SHARE


def decode_bytes(data: bytes) -> tuple[str | None, str]:
    """Decode input bytes: UTF-8 (with or without BOM) first, else the best guess of charset_normalizer.

    Returns (text, encoding); text is None when no encoding reads the bytes as text.
    """
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    best = from_bytes(data).best()
    if best is None or best.chaos > MAX_CHAOS:
        return None, ""
    if best.encoding in SINGLE_BYTE_EUROPEAN:
        # Short Western texts are often scored as Central European (e.g. "è" read as "č" in cp1250);
        # cp1252, the most common legacy encoding of English-language news, wins when it reads them.
        try:
            return data.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            pass
    return str(best), best.encoding


def read_files(files: list[InputFile], *, max_bytes: int, seen_at: dt.datetime) -> tuple[pl.DataFrame, list[Reject]]:
    """Read article files into documents (source, kind, content, url, raw_sha256, first_seen_at)."""
    rows = []
    rejects: list[Reject] = []
    for item in files:
        try:
            size = os.stat(item.path).st_size
            if size > max_bytes:
                rejects.append(Reject(item.source, "too_large", f"{size} bytes > limit {max_bytes}"))
                continue
            data = item.path.read_bytes()
        except OSError as exc:
            rejects.append(Reject(item.source, "unreadable", f"{type(exc).__name__}: {exc.strerror or exc}"))
            continue
        if not data.strip():
            rejects.append(Reject(item.source, "empty", f"{len(data)} bytes, no text"))
            continue
        if not data.startswith(UTF16_BOMS) and _is_binary(data[:SNIFF_BYTES]):
            rejects.append(Reject(item.source, "binary", "control bytes found: not a text or HTML file"))
            continue
        text, encoding = decode_bytes(data)
        if text is None:
            rejects.append(Reject(item.source, "undecodable", "bytes are not UTF-8 and no encoding reads them as text"))
            continue
        rows.append(
            {
                "source": item.source,
                "kind": SUFFIX_KIND[item.path.suffix.lower()],
                "content": text,
                "url": None,
                "raw_sha256": hashlib.sha256(data).hexdigest(),
                "first_seen_at": seen_at,
            }
        )
    return pl.DataFrame(rows, schema=DOCUMENT_SCHEMA), rejects
