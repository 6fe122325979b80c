"""The local history of runs (``.homehub/runs/``): one report file per run, newest kept."""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nornir_homehub.errors import ReportError
from nornir_homehub.records import project
from nornir_homehub.report.files import load_report, private_dir, write_report

if TYPE_CHECKING:
    from nornir_homehub.report.model import RunReport

HISTORY_KEEP = 200
logger = logging.getLogger(__name__)

_HISTORY_NAME = re.compile(r"^\d{8}T\d{12}Z-[0-9a-f]+\.json$")


@dataclass(frozen=True)
class HistoryEntry:
    """One past run, as listed by ``homehub history``."""

    run_id: str
    command: str
    started: str
    duration_s: float
    ok: bool
    incomplete: bool
    dry_run: bool
    hosts: int
    hosts_failed: int
    hosts_changed: int
    stopped_at: str | None
    path: Path

    @property
    def status(self) -> str:
        """``ok``, ``failed`` or ``incomplete``."""
        if self.incomplete:
            return "incomplete"
        return "ok" if self.ok else "failed"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "run_id": self.run_id,
            "command": self.command,
            "started": self.started,
            "duration_s": self.duration_s,
            "status": self.status,
            "ok": self.ok,
            "incomplete": self.incomplete,
            "dry_run": self.dry_run,
            "hosts": self.hosts,
            "hosts_failed": self.hosts_failed,
            "hosts_changed": self.hosts_changed,
            "stopped_at": self.stopped_at,
            "path": str(self.path),
        }


def _history_name(report: RunReport) -> str:
    started = datetime.fromisoformat(report.started.replace("Z", "+00:00"))
    return f"{started.strftime('%Y%m%dT%H%M%S%fZ')}-{report.run_id}.json"


def save_history(report: RunReport, history_dir: Path, keep: int = HISTORY_KEEP) -> Path:
    """Keep ``report`` in the local history and drop all but the newest ``keep`` runs.

    The history folder is made 0700 and each run's file 0600.

    Raises:
        OSError: the history folder cannot be written.

    """
    history_dir = Path(history_dir)
    private_dir(history_dir).chmod(0o700)  # the history is ours alone: no other user reads it
    path = write_report(report, history_dir / _history_name(report))
    runs = sorted(p for p in history_dir.iterdir() if _HISTORY_NAME.match(p.name))
    for old in runs[: max(len(runs) - keep, 0)]:
        with contextlib.suppress(FileNotFoundError):
            old.unlink()
    return path


def list_history(history_dir: Path, limit: int = 20) -> list[HistoryEntry]:
    """Return up to ``limit`` past runs, newest first; unreadable files are skipped."""
    history_dir = Path(history_dir)
    if not history_dir.is_dir():
        return []
    names = sorted((p for p in history_dir.iterdir() if _HISTORY_NAME.match(p.name)), reverse=True)
    entries: list[HistoryEntry] = []
    for path in names:
        if len(entries) >= limit:
            break
        try:
            report = load_report(path)
        except ReportError as exc:
            logger.warning("skipping history entry: %s", exc)
            continue
        entries.append(
            project(
                HistoryEntry,
                report,
                hosts=len(report.hosts),
                hosts_failed=len(report.failed_hosts),
                hosts_changed=len(report.changed_hosts),
                stopped_at=report.stopped_at.stage if report.stopped_at else None,
                path=path,
            )
        )
    return entries
