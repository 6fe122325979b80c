"""Plan a restore of a host's stack data dirs from one backup run (``runbooks/restore.py``).

Pure: no I/O. The input is what the host said: the backup runs that hold a manifest, the
chosen run's ``manifest.json`` (written by the backup, `nornir_homehub.plan.backup.manifest`),
the sha256 of every archive in the run folder as computed on the host now, and the size of each
data dir that would be replaced. The plan names what is replaced and from which archive; an
archive whose hash differs from the manifest's (or that is missing) makes the plan *refused*:
the task then replaces nothing on that host and fails naming the file.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nornir_homehub.errors import PlanError
from nornir_homehub.plan.backup import MANIFEST, MANIFEST_FORMAT, RUN_NAME_RE

if TYPE_CHECKING:
    from nornir_homehub.render import RenderedStack


@dataclass(frozen=True)
class ManifestEntry:
    """One archive of a backup run, as its manifest lists it."""

    stack: str
    path: str
    member: str
    file: str
    sha256: str
    size: int


@dataclass(frozen=True)
class RestoreItem:
    """One data dir to replace: ``path`` gets the archive's ``member`` (relative to data_root).

    ``current_size`` is the size of the data dir now (None: it does not exist).
    """

    entry: ManifestEntry
    current_size: int | None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        e = self.entry
        return {
            "stack": e.stack,
            "path": e.path,
            "archive": e.file,
            "sha256": e.sha256,
            "size": e.size,
            "current_size": self.current_size,
        }


@dataclass(frozen=True)
class RestorePlan:
    """The restore of one host from backup run ``run``.

    Attributes:
        items: data dirs replaced, grouped by stack in the host's stack order.
        skipped: (what, why) for archives or stacks not restored.
        mismatches: (archive, why) for archives whose bytes differ from the manifest: when
            any, the plan is refused and nothing is replaced.
    """

    host: str
    backup_dir: str
    run: str
    data_root: str
    items: tuple[RestoreItem, ...]
    skipped: tuple[tuple[str, str], ...]
    mismatches: tuple[tuple[str, str], ...]

    @property
    def run_dir(self) -> str:
        """Folder of the backup run restored from."""
        return f"{self.backup_dir.rstrip('/')}/{self.run}"

    @property
    def refused(self) -> bool:
        """True when an archive does not match the manifest (nothing may be replaced)."""
        return bool(self.mismatches)

    def stacks(self) -> tuple[str, ...]:
        """The stacks stopped, restored and started again, in order."""
        return tuple(dict.fromkeys(i.entry.stack for i in self.items))

    def describe(self) -> str:
        """The plan as the lines a dry run prints."""
        lines = [f"restore {self.host} <- {self.run_dir}:"]
        for file, why in self.mismatches:
            lines.append(f"  REFUSED {self.run_dir}/{file}: {why}")
        for i in self.items:
            now = "missing now" if i.current_size is None else f"{i.current_size} bytes now"
            lines.append(
                f"  replace {i.entry.path} ({now}) with {i.entry.file} "
                f"({i.entry.size} bytes, sha256 {i.entry.sha256[:12]}... checked)"
            )
        lines += [f"  skip    {what}: {why}" for what, why in self.skipped]
        for stack in self.stacks():
            lines.append(f"  stack   {stack}: stopped, restored, started, checked")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "host": self.host,
            "run_dir": self.run_dir,
            "items": [i.to_dict() for i in self.items],
            "skipped": [{"what": w, "reason": r} for w, r in self.skipped],
            "mismatches": [{"file": f, "reason": r} for f, r in self.mismatches],
            "stacks": list(self.stacks()),
            "refused": self.refused,
        }


def pick_run(host: str, runs: Sequence[str], wanted: str | None) -> str:
    """The backup run to restore: ``wanted``, else the newest run that has a manifest.

    Raises:
        PlanError: ``wanted`` is not a run name or not on the host; the host has no run.
    """
    if wanted is not None:
        if not RUN_NAME_RE.match(wanted):
            raise PlanError(f"{host}: backup {wanted!r} is not a run name like 20261201T120000Z")
        if wanted not in runs:
            have = ", ".join(runs[-5:]) or "none"
            raise PlanError(f"{host}: no backup run {wanted} with a {MANIFEST}; newest: {have}")
        return wanted
    if not runs:
        raise PlanError(f"{host}: no backup run with a {MANIFEST} (run `run backup` first)")
    return sorted(runs)[-1]


def parse_manifest(host: str, where: str, text: str) -> tuple[ManifestEntry, ...]:
    """Parse a run's ``manifest.json`` into its entries.

    Raises:
        PlanError: not JSON, not this format, an entry without its fields, or a member or file
            name that would leave the run folder or data_root (``..``, absolute).
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise PlanError(f"{host}: {where}: not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise PlanError(f"{host}: {where}: not a {MANIFEST_FORMAT} manifest")
    entries = []
    for n, raw in enumerate(data.get("archives") or []):
        try:
            entry = ManifestEntry(
                stack=str(raw["stack"]),
                path=str(raw["path"]),
                member=str(raw["member"]),
                file=str(raw["file"]),
                sha256=str(raw["sha256"]),
                size=int(raw["size"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PlanError(f"{host}: {where}: archives[{n}]: missing or bad field {exc}") from None
        parts = entry.member.split("/")
        if entry.member.startswith("/") or ".." in parts or "" in parts or "/" in entry.file:
            raise PlanError(f"{host}: {where}: archives[{n}]: unsafe member or file name")
        entries.append(entry)
    return tuple(entries)


def parse_sums(text: str) -> dict[str, str]:
    """Parse ``sha256sum -- *.tar.gz`` run in the run folder: file name -> hex digest."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        digest, _, name = line.partition("  ")
        if len(digest) == 64 and name:
            out[name.lstrip("*")] = digest
    return out


def plan_restore(
    host: str,
    stacks: Sequence[RenderedStack],
    entries: Sequence[ManifestEntry],
    *,
    backup_dir: str,
    run: str,
    data_root: str,
    sums: Mapping[str, str],
    data_sizes: Mapping[str, int | None],
    only: Collection[str] | None = None,
) -> RestorePlan:
    """Plan the restore of ``run`` onto the host's stacks (``only``: just these stacks).

    An archive is restored when its stack is one of the host's (selected) stacks and its path
    is one of that stack's data dirs; its hash on the host must equal the manifest's.

    Raises:
        PlanError: an entry's path is not ``data_root/member`` (the archive would land elsewhere).
    """
    root = data_root.rstrip("/")
    wanted = [s for s in stacks if only is None or s.name in only]
    dirs = {(s.name, d.path) for s in wanted for d in s.data_dirs}
    items: list[RestoreItem] = []
    skipped: list[tuple[str, str]] = []
    mismatches: list[tuple[str, str]] = []
    for e in entries:
        if e.path != f"{root}/{e.member}":
            raise PlanError(f"{host}: {e.file}: path {e.path} is not {root}/{e.member}")
        if (e.stack, e.path) not in dirs:
            why = (
                "stack not selected"
                if any(s.name == e.stack for s in stacks)
                else "not a data dir of the host's stacks"
            )
            skipped.append((e.file, why))
            continue
        actual = sums.get(e.file)
        if actual is None:
            mismatches.append((e.file, "missing from the run folder"))
        elif actual != e.sha256:
            mismatches.append((e.file, f"sha256 {actual} differs from the manifest's {e.sha256}"))
        items.append(RestoreItem(e, data_sizes.get(e.path)))
    restored = {i.entry.stack for i in items}
    skipped += [(s.name, "not in this backup") for s in wanted if s.name not in restored]
    order = {s.name: n for n, s in enumerate(stacks)}
    items.sort(key=lambda i: order.get(i.entry.stack, len(order)))
    return RestorePlan(
        host, backup_dir.rstrip("/"), run, root, tuple(items), tuple(skipped), tuple(mismatches)
    )
