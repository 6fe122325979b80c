"""Find secret values in files, in every form a value can take in output.

A guard for test suites and CI: after a run, search everything it produced (reports, logs,
captured output, temporary files) for the secrets it used. It does not use
`nornir_homehub.secrets.Redactor`: the redactor matches regexes, this module searches for the
concrete byte strings `secret_forms` lists, so a form the redactor's regexes miss is found
here. Both take the base64 forms and the removal of line breaks from
`nornir_homehub.secrets.forms` (the tests encode every form a third way).

A hit names the file, the byte offset and the secret's *name*, never its value.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import stat
import urllib.parse
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from nornir_homehub.secrets.forms import base64_forms, unbroken

__all__ = [
    "MIN_SECRET",
    "Hit",
    "ScanStats",
    "scan_bytes",
    "scan_file",
    "scan_tree",
    "secret_forms",
]

MIN_SECRET = 8
"""Values shorter than this are not searched for (they would match ordinary text)."""

MAX_FILE = 1024 * 1024 * 1024
"""Bytes read from one file (a longer file is scanned up to here and counted as cut)."""

CHUNK = 16 * 1024 * 1024
"""A file is read and searched this many bytes at a time."""

OVERLAP = 64 * 1024
"""Bytes each chunk repeats from the one before, so a form that spans the cut (also wrapped
over lines) is still found whole; far longer than any form of any secret."""

_PCT = re.compile(rb"%[0-9A-Fa-f]{2}")
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class Hit:
    """One secret found in one place.

    Attributes:
        path: the file (with `` (gunzipped)`` when found inside its decompressed content).
        offset: the byte offset of the match in the file (or in the decompressed stream).
        secret: the secret's name (never its value).
        form: how it was written: ``raw``, ``url-lower``, ``json``, ``hex``, ``base64+1``...

    """

    path: str
    offset: int
    secret: str
    form: str

    def __str__(self) -> str:
        return f"{self.path}: byte {self.offset}: secret {self.secret} ({self.form})"


@dataclass
class ScanStats:
    """What a scan covered: files read, bytes read, files cut at `MAX_FILE`, files allowed."""

    files: int = 0
    bytes: int = 0
    cut: int = 0
    allowed: int = 0

    def add(self, other: ScanStats) -> None:
        """Add ``other``'s counts to these."""
        self.files += other.files
        self.bytes += other.bytes
        self.cut += other.cut
        self.allowed += other.allowed


def secret_forms(value: str) -> dict[str, bytes]:
    """Every byte string ``value`` can appear as in output, by form name.

    Raw (UTF-8); URL-encoded (``%XX``; with ``+`` for spaces; with ``/`` kept); JSON-escaped
    (ASCII-only and UTF-8); hex of the UTF-8 bytes; base64 of the value at each of the three
    alignments it can have inside a longer blob (only the characters the value alone
    determines), standard and URL-safe. Forms shorter than `MIN_SECRET` are left out;
    identical forms are listed once. `scan_bytes` matches the ``url*`` forms whatever the case
    of their ``%xx`` escapes and the ``hex`` form in any case.
    """
    raw = value.encode("utf-8", "surrogateescape")
    candidates: list[tuple[str, str | bytes]] = [
        ("raw", raw),
        ("url", urllib.parse.quote(value, safe="")),
        ("url-plus", urllib.parse.quote_plus(value, safe="")),
        ("url-path", urllib.parse.quote(value)),
        ("json", json.dumps(value)[1:-1]),
        ("json-utf8", json.dumps(value, ensure_ascii=False)[1:-1]),
        ("hex", raw.hex()),
    ]
    candidates += base64_forms(raw)
    forms: dict[str, bytes] = {}
    seen: set[bytes] = set()
    for name, form in candidates:
        data = form if isinstance(form, bytes) else form.encode("utf-8", "surrogateescape")
        if len(data) >= MIN_SECRET and data not in seen:
            seen.add(data)
            forms[name] = data
    return forms


def _find_all(haystack: bytes, needle: bytes) -> Iterator[int]:
    at = haystack.find(needle)
    while at >= 0:
        yield at
        at = haystack.find(needle, at + 1)


def scan_bytes(data: bytes, secrets: Mapping[str, str]) -> list[tuple[int, str, str]]:
    """Find every form of every secret in ``data``, also when wrapped over lines.

    Args:
        data: the content to search.
        secrets: name -> value (values shorter than `MIN_SECRET` are ignored).

    Returns:
        (byte offset in ``data``, secret name, form name), sorted by offset; one entry per
        place and secret (the first form found there).

    """
    joined = unbroken(data)
    # Same-length views, so that offsets stay valid: %xx escapes upper-cased, all lower-cased.
    views = {
        "url": _PCT.sub(lambda m: m.group(0).upper(), joined.text),
        "hex": joined.text.lower(),
    }
    found: dict[tuple[int, str], str] = {}
    for name, value in secrets.items():
        if len(value) < MIN_SECRET:
            continue
        for form, needle in secret_forms(value).items():
            view = views.get(form.split("-")[0], joined.text)
            for at in _find_all(view, needle):
                found.setdefault((joined.original(at), name), form)
    return sorted((offset, name, form) for (offset, name), form in found.items())


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def _scan_stream(
    fh: _Readable, secrets: Mapping[str, str], name: str, start: int, stats: ScanStats
) -> list[Hit]:
    """Search ``fh`` in chunks of `CHUNK` (each repeating the last `OVERLAP` bytes before it).

    Offsets count from ``start`` (the stream's first byte in the file). A hit found twice, in
    the overlap, is reported once.
    """
    found: dict[tuple[int, str], Hit] = {}
    base = start  # file offset of buf[0]
    buf = b""
    left = MAX_FILE
    while left > 0:
        try:
            more = fh.read(min(CHUNK, left))
        except (OSError, EOFError, zlib.error):
            break  # a gzip stream cut short, or the file vanished: what was read counts
        if not more:
            break
        left -= len(more)
        stats.bytes += len(more)
        buf += more
        for at, secret, form in scan_bytes(buf, secrets):
            found.setdefault((base + at, secret), Hit(name, base + at, secret, form))
        keep = buf[-OVERLAP:]
        base += len(buf) - len(keep)
        buf = keep
    if left <= 0:
        with contextlib.suppress(OSError, EOFError, zlib.error):
            stats.cut += len(fh.read(1))
    return sorted(found.values(), key=lambda h: (h.offset, h.secret))


def scan_file(
    path: Path, secrets: Mapping[str, str], *, start: int = 0, shown: str | None = None
) -> tuple[list[Hit], ScanStats]:
    """Scan one file (from byte ``start``), and the content of a gzip file as well.

    The whole file is searched (up to `MAX_FILE`), a chunk at a time.

    Args:
        path: the file.
        secrets: name -> value.
        start: first byte to read (a log's size at the start of the session).
        shown: how to name the file in hits (default: ``path``).

    Returns:
        The hits (offsets counted from the file's first byte) and what was read.

    """
    stats = ScanStats()
    name = shown or str(path)
    try:
        with path.open("rb") as fh:
            fh.seek(start)
            head = fh.read(len(_GZIP_MAGIC))
            fh.seek(start)
            hits = _scan_stream(fh, secrets, name, start, stats)
    except OSError:
        return [], stats
    stats.files += 1
    if start == 0 and head == _GZIP_MAGIC:
        with contextlib.suppress(OSError), gzip.open(path, "rb") as inner:
            hits += _scan_stream(inner, secrets, f"{name} (gunzipped)", 0, stats)
    return hits, stats


def _files(root: Path, skip: list[Path]) -> Iterator[Path]:
    """Regular files under ``root``, not following symlinks, not entering ``skip``."""
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if (Path(folder) / d).resolve() not in skip)
        for n in sorted(names):
            p = Path(folder) / n
            try:
                if stat.S_ISREG(p.lstat().st_mode):
                    yield p
            except OSError:
                continue


def scan_tree(
    roots: Iterable[Path],
    secrets: Mapping[str, str],
    *,
    allowed: Callable[[Path], bool] | None = None,
    since: float | None = None,
    skip_dirs: Iterable[Path] = (),
) -> tuple[list[Hit], ScanStats]:
    """Scan every regular file under ``roots`` (symlinks are not followed).

    Args:
        roots: folders (or files) to scan; missing ones are skipped.
        secrets: name -> value.
        allowed: files intended to hold a secret (a vault password file, a 0600 env file):
            counted, not scanned.
        since: only files modified at or after this time (seconds since the epoch).
        skip_dirs: folders not to enter (another tool's state, e.g. Docker's data dir).

    Returns:
        The hits and what was read.

    """
    hits: list[Hit] = []
    stats = ScanStats()
    skipped = [p.resolve() for p in skip_dirs]
    for root in roots:
        if not root.exists():
            continue
        for path in [root] if root.is_file() else _files(root, skipped):
            try:
                if since is not None and path.stat().st_mtime < since:
                    continue
            except OSError:
                continue
            if allowed is not None and allowed(path):
                stats.allowed += 1
                continue
            found, st = scan_file(path, secrets)
            hits += found
            stats.add(st)
    return hits, stats
