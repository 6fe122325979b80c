"""Where reports go on disk: atomic writes of 0600 files into 0700 folders, and reading back."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from nornir_homehub.errors import ReportError
from nornir_homehub.report.model import RunReport


def private_dir(path: Path) -> Path:
    """Create folder ``path`` and its missing parents as 0700; existing folders are not changed.

    Reports, JUnit files and the history can hold secret-derived text (redacted, but still
    the run's details): they are 0600 files, and every folder made for them is 0700. A folder
    that already exists (the user's working directory, /tmp) keeps its mode.
    """
    missing: list[Path] = []
    here = Path(path)
    while not here.exists() and here != here.parent:
        missing.append(here)
        here = here.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)
            folder.chmod(0o700)
    return Path(path)


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` as a 0600 file: temporary file, fsync, rename."""
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_report(report: RunReport, path: Path) -> Path:
    """Write the report's JSON document to ``path`` atomically (temporary file + rename).

    The file is 0600; folders created for it are 0700 (`private_dir`).

    Raises:
        OSError: the file cannot be written.

    """
    atomic_write(Path(path), report.to_json() + "\n")
    return Path(path)


def load_report(path: Path) -> RunReport:
    """Read a report written by `write_report`.

    Raises:
        ReportError: the file is unreadable, not JSON or not a version-1 report.

    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReportError(f"cannot read report {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ReportError(f"report {path} is not a JSON object")
    return RunReport.from_dict(data)
