"""Plan a backup of a host's stack data dirs and the retention of earlier backups.

Pure: no I/O. A backup *run* is one folder ``<backup_dir>/<UTC time>`` (``20251013T101500Z``)
holding one ``tar.gz`` per data dir and a ``manifest.json`` with their sha256. Retention keeps
the newest ``keep`` runs (the new one included) and deletes the older ones; only folders whose
name is such a time are ever considered, so nothing else under ``backup_dir`` is touched.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from nornir_homehub.errors import PlanError

if TYPE_CHECKING:
    from nornir_homehub.render import RenderedStack

RUN_NAME_RE = re.compile(r"^\d{8}T\d{6}Z$")
MANIFEST = "manifest.json"
MANIFEST_FORMAT = "homehub-backup/1"


def run_name(moment: datetime) -> str:
    """The folder name of a backup run started at ``moment`` (UTC, sorts by time)."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def archive_name(stack: str, data_root: str, path: str) -> str:
    """``<stack>--<path under data_root, / as _>.tar.gz``: ``qdrant--qdrant_storage.tar.gz``."""
    rel = path[len(data_root.rstrip("/")) + 1 :] if path.startswith(data_root) else path
    return f"{stack}--{rel.strip('/').replace('/', '_')}.tar.gz"


@dataclass(frozen=True)
class BackupItem:
    """One data dir to archive (``rel``: its path under ``data_root``, the tar member)."""

    stack: str
    path: str
    rel: str
    archive: str
    stop: bool
    size: int | None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "stack": self.stack,
            "path": self.path,
            "archive": self.archive,
            "stop": self.stop,
            "size": self.size,
        }


@dataclass(frozen=True)
class Retention:
    """Which backup runs stay and which go (names, oldest first)."""

    keep: tuple[str, ...]
    delete: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"keep": list(self.keep), "delete": list(self.delete)}


@dataclass(frozen=True)
class BackupPlan:
    """The backup of one host.

    Attributes:
        run_dir: ``<backup_dir>/<run>``, where the archives and the manifest go.
        items: data dirs to archive, grouped by stack in inventory order.
        skipped: data dirs not archived, with the reason (missing on the host).
        retention: runs kept and deleted after this one.
    """

    host: str
    backup_dir: str
    run: str
    data_root: str
    items: tuple[BackupItem, ...]
    skipped: tuple[tuple[str, str], ...]
    retention: Retention

    @property
    def run_dir(self) -> str:
        """Folder of this backup run."""
        return f"{self.backup_dir.rstrip('/')}/{self.run}"

    @property
    def changed(self) -> bool:
        """True when an archive is written or an old run deleted."""
        return bool(self.items or self.retention.delete)

    def stopped_stacks(self) -> tuple[str, ...]:
        """Stacks whose containers stop while their data is archived."""
        return tuple(dict.fromkeys(i.stack for i in self.items if i.stop))

    def describe(self) -> str:
        """The plan as the lines a dry run prints."""
        lines = [f"backup {self.host} -> {self.run_dir}:"]
        for i in self.items:
            how = "stack stopped meanwhile" if i.stop else "stack keeps running"
            size = "" if i.size is None else f", {i.size} bytes"
            lines.append(f"  archive {i.path} -> {i.archive} ({how}{size})")
        lines += [f"  skip    {p}: {why}" for p, why in self.skipped]
        if self.items:
            lines.append(f"  write   {self.run_dir}/{MANIFEST} (sha256 of each archive)")
        lines += [
            f"  delete  {self.backup_dir.rstrip('/')}/{r} (retention)"
            for r in self.retention.delete
        ]
        if self.retention.keep:
            lines.append(
                f"  keep    {len(self.retention.keep)} run(s): {', '.join(self.retention.keep)}"
            )
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "host": self.host,
            "run_dir": self.run_dir,
            "items": [i.to_dict() for i in self.items],
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "retention": self.retention.to_dict(),
            "changed": self.changed,
        }


def plan_retention(existing: Collection[str], new: str | None, keep: int) -> Retention:
    """Keep the newest ``keep`` runs (``new`` included); delete the older ones.

    Names that are not backup run names are ignored (never deleted).

    Raises:
        PlanError: ``keep`` is below 1.
    """
    if keep < 1:
        raise PlanError(f"backup_keep must be at least 1, got {keep}")
    runs = sorted({n for n in existing if RUN_NAME_RE.match(n)} | ({new} if new else set()))
    cut = max(len(runs) - keep, 0)
    return Retention(keep=tuple(runs[cut:]), delete=tuple(runs[:cut]))


def plan_backup(
    host: str,
    stacks: Sequence[RenderedStack],
    *,
    backup_dir: str,
    data_root: str,
    run: str,
    keep: int,
    stop: Collection[str],
    existing_runs: Collection[str],
    data_sizes: Mapping[str, int | None],
) -> BackupPlan:
    """Plan one backup run: an archive per existing data dir, then retention.

    ``data_sizes`` maps each data dir to its size in bytes, None when it is missing (skipped).

    Raises:
        PlanError: ``backup_dir`` is not absolute, or overlaps ``data_root`` (an archive would
            end up in the data it archives); ``keep`` is below 1.
    """
    if not backup_dir.startswith("/") or backup_dir.rstrip("/") in ("", "/"):
        raise PlanError(f"{host}: backup_dir {backup_dir!r} must be an absolute path below /")
    root = data_root.rstrip("/")
    bdir = backup_dir.rstrip("/")
    if bdir == root or bdir.startswith(root + "/") or root.startswith(bdir + "/"):
        raise PlanError(f"{host}: backup_dir {backup_dir} overlaps data_root {data_root}")
    items: list[BackupItem] = []
    skipped: list[tuple[str, str]] = []
    for s in stacks:
        for d in s.data_dirs:
            if data_sizes.get(d.path) is None:
                skipped.append((d.path, "missing on the host (stack never deployed?)"))
                continue
            rel = d.path[len(root) + 1 :] if d.path.startswith(root + "/") else d.path.lstrip("/")
            items.append(
                BackupItem(
                    stack=s.name,
                    path=d.path,
                    rel=rel,
                    archive=archive_name(s.name, root, d.path),
                    stop=s.name in stop,
                    size=data_sizes.get(d.path),
                )
            )
    retention = plan_retention(existing_runs, run if items else None, keep)
    return BackupPlan(host, bdir, run, root, tuple(items), tuple(skipped), retention)


def manifest(
    plan: BackupPlan,
    archives: Mapping[str, tuple[str, int]],
    created: str,
    *,
    changed_while_read: Collection[str] = (),
) -> dict[str, Any]:
    """The manifest of a finished run: ``archives`` maps archive name -> (sha256, size).

    ``changed_while_read``: the archives of running stacks in which a file changed as tar read
    it (``changed_while_read: true`` in their entry).
    """
    return {
        "format": MANIFEST_FORMAT,
        "host": plan.host,
        "run": plan.run,
        "created": created,
        "data_root": plan.data_root,
        "archives": [
            {
                "stack": i.stack,
                "path": i.path,
                "member": i.rel,
                "file": i.archive,
                "sha256": archives[i.archive][0],
                "size": archives[i.archive][1],
                "stopped": i.stop,
                "changed_while_read": i.archive in changed_while_read,
            }
            for i in plan.items
        ],
    }


def parse_runs(text: str) -> tuple[str, ...]:
    """Parse ``ls -1 <backup_dir>``: the backup run names, sorted (other names ignored)."""
    return tuple(sorted(n for n in text.split() if RUN_NAME_RE.match(n)))


def parse_sizes(text: str) -> dict[str, int | None]:
    """Parse ``size path`` / ``MISSING path`` lines (``du -sb``) -> path -> bytes or None."""
    out: dict[str, int | None] = {}
    for line in text.splitlines():
        first, _, path = line.partition(" ")
        if first == "MISSING":
            out[path] = None
        elif first.isdigit():
            out[path] = int(first)
    return out
