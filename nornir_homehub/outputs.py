"""Output paths checked before any host is touched, and joined without escaping their folder.

``--report``, ``--junit`` and ``render --out`` are checked when the command line is read:
empty, a folder where a file is expected (or the reverse), a file in the way of a folder, or a
place that cannot be written (tried for real with a temporary file, so a read-only file system
is found even as root) is a usage error (exit 2), not a surprise after the hosts were changed.
`safe_join` builds paths under an output folder from names that come from the inventory and
refuses any result outside it (``..``, an absolute part, a symlink pointing elsewhere).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from nornir_homehub.errors import ConfigError

_NAME_MAX = 255


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(path.anchor or ".")


def _writable_folder(folder: Path) -> str | None:
    """Why no file can be created in the existing folder ``folder``, or None."""
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".homehub-write-check.")
    except OSError as exc:
        return f"cannot write in {folder}: {exc.strerror or exc}"
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(tmp)
    return None


def _common(text: str) -> tuple[Path | None, str | None]:
    if not text or not text.strip():
        return None, "empty path"
    if "\0" in text:
        return None, "the path contains a NUL byte"
    path = Path(text).expanduser()
    for part in path.parts:
        if len(part.encode("utf-8", "surrogateescape")) > _NAME_MAX:
            return None, f"a name in {text!r} is longer than {_NAME_MAX} bytes"
    return path, None


def _folder_problem(folder: Path) -> str | None:
    """Why ``folder`` cannot be (created and) written, or None; creates nothing."""
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    return _writable_folder(existing)


def output_file_problem(text: str) -> str | None:
    """Why no file can be written at ``text`` (its folders may be created later), or None."""
    path, problem = _common(text)
    if path is None:
        return problem
    if text.endswith(("/", os.sep)) or path.is_dir():
        return f"{text} is a folder; give a file name"
    problem = _folder_problem(path.parent)
    return f"{text}: {problem}" if problem else None


def output_dir_problem(text: str) -> str | None:
    """Why no folder can be created (or used) and written at ``text``, or None."""
    path, problem = _common(text)
    if path is None:
        return problem
    if os.path.lexists(path) and not path.is_dir():
        return f"{text} is a file, not a folder"
    problem = _folder_problem(path)
    return f"{text}: {problem}" if problem else None


def check_output_file(text: str, what: str) -> Path:
    """Check that a file can be written at ``text``; ``what`` names it in messages.

    Raises:
        ConfigError: empty, a folder, under a file, or not writable.
    """
    return _checked(text, what, output_file_problem(text))


def check_output_dir(text: str, what: str) -> Path:
    """Check that a folder can be created (or already is one) and written at ``text``.

    Raises:
        ConfigError: empty, a file, under a file, or not writable.
    """
    return _checked(text, what, output_dir_problem(text))


def _checked(text: str, what: str, problem: str | None) -> Path:
    if problem:
        raise ConfigError(f"{what}: {problem}")
    return Path(text).expanduser()


def safe_join(root: Path, *parts: str) -> Path:
    """``root / parts...``, refused when the result would not lie inside ``root``.

    Each part must be a plain relative path (no ``..``, not absolute), and the resolved path
    (symlinks followed) must stay under the resolved ``root``.

    Raises:
        ConfigError: the path would escape ``root``.
    """
    dest = root
    for part in parts:
        p = Path(part)
        if not part or p.is_absolute() or ".." in p.parts:
            raise ConfigError(f"refusing to write {part!r} outside {root}")
        dest = dest / p
    base = root.resolve()
    if not dest.resolve().is_relative_to(base):
        raise ConfigError(
            f"refusing to write {dest}: it resolves to {dest.resolve()}, outside {base}"
        )
    return dest
