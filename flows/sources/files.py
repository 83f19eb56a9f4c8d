"""Discover and read local article files (.txt, .html, .htm) into a documents frame, rejecting bad ones."""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from charset_normalizer import from_bytes

from flows.warehouse.store import Reject

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


def _kind_of(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def _check_entry(path: Path, source: str) -> InputFile | Reject | None:
    """Classify one path found in a folder or given by name: a file to read, a reject, or a folder (None)."""
    try:
        info = os.stat(path)  # follows symlinks: a loop or a dangling link fails here
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return Reject(source, "symlink_loop", f"symbolic link loop at {path}")
        if exc.errno == errno.ENOENT and path.is_symlink():
            return Reject(source, "unreadable", f"dangling symbolic link to {os.readlink(path)}")
        if exc.errno in (errno.EACCES, errno.EPERM):
            return Reject(source, "permission_denied", f"cannot stat {path}: {exc.strerror}")
        if exc.errno == errno.ENOENT:
            return Reject(source, "not_found", "no such file or folder")
        return Reject(source, "unreadable", f"{type(exc).__name__}: {exc.strerror or exc}")
    if stat.S_ISDIR(info.st_mode):
        return None
    if not stat.S_ISREG(info.st_mode):
        return Reject(source, "not_regular_file", f"{_kind_of(info.st_mode)}: not read (it could block or never end)")
    return InputFile(path, source)


def _walk(folder: Path, root: Path, found: dict[Path, InputFile], rejects: list[Reject], seen: set[tuple[int, int]]) -> None:
    """Depth-first walk of `folder`: every entry is a file, a reject or a folder walked in turn."""
    try:
        info = os.stat(folder)
        if (info.st_dev, info.st_ino) in seen:  # a symlinked folder that points back up the tree
            rejects.append(Reject(folder.relative_to(root).as_posix(), "symlink_loop",
                                  f"folder {folder} was already walked (symbolic link loop)"))
            return
        seen.add((info.st_dev, info.st_ino))
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except PermissionError as exc:
        rejects.append(Reject(folder.relative_to(root).as_posix() or str(folder), "permission_denied",
                              f"cannot list folder {folder}: {exc.strerror}"))
        return
    except OSError as exc:
        rejects.append(Reject(folder.relative_to(root).as_posix() or str(folder), "unreadable",
                              f"cannot list folder {folder}: {exc.strerror or exc}"))
        return
    for entry in entries:
        path = Path(entry.path)
        if entry.name.startswith("."):
            continue
        source = path.relative_to(root).as_posix()
        checked = _check_entry(path, source)
        if checked is None:
            _walk(path, root, found, rejects, seen)
        elif isinstance(checked, Reject):
            if checked.reason != "unreadable" or path.suffix.lower() in SUFFIX_KIND:
                rejects.append(checked)
        elif path.suffix.lower() in SUFFIX_KIND:
            found.setdefault(path.resolve(), checked)


def discover_files(paths: list[Path]) -> tuple[list[InputFile], list[Reject]]:
    """Expand files and folders into article files; every path found is a file to read or a reject.

    Never raises: symlink loops, FIFOs, sockets, devices, folders and files the process may not read
    become rejects (`symlink_loop`, `not_regular_file`, `permission_denied`, `unreadable`,
    `not_found`); files of other types inside folders are skipped (a folder may hold anything).
    """
    found: dict[Path, InputFile] = {}
    rejects: list[Reject] = []
    for given in paths:
        checked = _check_entry(given, str(given) if not given.is_absolute() else str(given))
        if checked is None:
            _walk(given, given, found, rejects, set())
        elif isinstance(checked, Reject):
            rejects.append(checked)
        elif given.suffix.lower() not in SUFFIX_KIND:
            rejects.append(Reject(str(given), "unsupported_type", f"not one of {sorted(SUFFIX_KIND)}"))
        else:
            found.setdefault(given.resolve(), InputFile(given, given.name))
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
        except PermissionError as exc:
            rejects.append(Reject(item.source, "permission_denied", f"cannot read {item.path}: {exc.strerror}"))
            continue
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
