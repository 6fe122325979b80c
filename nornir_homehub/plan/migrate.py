"""Plan the guide's migration from the old monolithic stacks to one stack per service.

Pure: no I/O. `plan_migration` turns a host's `LegacyFacts` and the new stacks it deploys into a
`MigrationPlan`: which old compose projects to stop, which old directories to remove afterwards,
which data directories are kept, and why, every decision with a reason.

Why the old project stops *before* the new stacks start (the guide lists "deploy new stacks"
first): the old monolithic projects used the container names the new stacks need (``ollama``,
``qdrant``, ``litellm``, ``open-webui``) and published the same ports, so the new stacks cannot
start next to them (`plan.stacks.plan_stack` refuses). The order is therefore: stop old ->
deploy new -> verify -> remove old dir; a failed deploy or verify keeps the old directory, so
the operator can roll back with ``docker compose up -d`` there.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nornir_homehub.errors import PlanError, UnsafeOldDir
from nornir_homehub.facts.legacy import COMPOSE_FILE_NAMES
from nornir_homehub.records import as_dict

# Directories no migration may ever remove, whatever they hold (and everything above them).
PROTECTED_DIRS = (
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/home",
    "/lib",
    "/lib32",
    "/lib64",
    "/opt",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/srv",
    "/sys",
    "/tmp",
    "/usr",
    "/var",
    "/var/lib",
    "/var/lib/docker",
)


if TYPE_CHECKING:
    from nornir_homehub.facts.legacy import LegacyContainer, LegacyDir, LegacyFacts
    from nornir_homehub.render import RenderedStack


@dataclass(frozen=True)
class ProjectStop:
    """An old compose project to stop with ``docker compose down`` (volumes kept)."""

    project: str
    directory: str
    containers: tuple[str, ...]
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return as_dict(self)


@dataclass(frozen=True)
class DirDecision:
    """What happens to one old stack directory after the new stacks verify."""

    path: str
    exists: bool
    remove: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "path": self.path,
            "exists": self.exists,
            "remove": self.remove,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class KeptData:
    """A data directory the migration keeps (never deletes), with its file count now."""

    path: str
    files: int | None
    used_by: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"path": self.path, "files": self.files, "used_by": list(self.used_by)}


@dataclass(frozen=True)
class MigrationPlan:
    """The migration of one host.

    Attributes:
        stop: old projects to ``docker compose down`` before the new stacks start.
        dirs: every old directory asked about and whether it is removed after verify.
        data: data directories kept, with their file counts before the migration.
        new_stacks: the stacks deployed in their place.
        warnings: things the operator should know (kept named volumes, unused data).
        noop_reason: why there is nothing to stop or remove (empty otherwise).
    """

    host: str
    stop: tuple[ProjectStop, ...]
    dirs: tuple[DirDecision, ...]
    data: tuple[KeptData, ...]
    new_stacks: tuple[str, ...]
    warnings: tuple[str, ...] = field(default_factory=tuple)
    noop_reason: str = ""
    new_projects: tuple[tuple[str, str], ...] = ()  # (compose project, project dir)

    @property
    def changed(self) -> bool:
        """True when the migration stops a project or removes a directory."""
        return bool(self.stop or self.remove)

    @property
    def remove(self) -> tuple[str, ...]:
        """Old directories removed once the new stacks verify."""
        return tuple(d.path for d in self.dirs if d.remove)

    def rollback_commands(self) -> tuple[str, ...]:
        """Shell commands that bring the old stacks back (new stacks down first: same names)."""
        out = [f"cd {d} && docker compose -p {p} down" for p, d in self.new_projects]
        out += [f"cd {s.directory} && docker compose -p {s.project} up -d" for s in self.stop]
        return tuple(out)

    def describe(self) -> str:
        """The plan as the lines a dry run prints (what would happen, in order)."""
        lines = [f"migrate {self.host}:"]
        if self.noop_reason:
            lines.append(f"  nothing to stop or remove: {self.noop_reason}")
        for s in self.stop:
            lines.append(
                f"  stop    compose project {s.project} in {s.directory} "
                f"(containers {', '.join(s.containers) or 'none'}; volumes kept): {s.reason}"
            )
        if self.new_stacks:
            lines.append(f"  deploy  {', '.join(self.new_stacks)}, then verify them")
        for d in self.dirs:
            verb = "remove " if d.remove else ("keep   " if d.exists else "absent ")
            lines.append(f"  {verb} {d.path}: {d.reason}")
        for k in self.data:
            count = "not there yet" if k.files is None else f"{k.files} files"
            lines.append(
                f"  keep    data {k.path} ({count}; {', '.join(k.used_by)}): never deleted"
            )
        lines += [f"  warning {w}" for w in self.warnings]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "host": self.host,
            "changed": self.changed,
            "stop": [s.to_dict() for s in self.stop],
            "dirs": [d.to_dict() for d in self.dirs],
            "remove": list(self.remove),
            "data": [k.to_dict() for k in self.data],
            "new_stacks": list(self.new_stacks),
            "warnings": list(self.warnings),
            "noop_reason": self.noop_reason,
        }


def _inside(path: str, parent: str) -> bool:
    """True when ``path`` is ``parent`` or below it (normalized POSIX paths)."""
    parent = parent.rstrip("/") or "/"
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def check_old_dir(
    host: str, path: str, *, data_root: str, stacks_root: str, new_dirs: Sequence[str]
) -> None:
    """Refuse an old directory whose removal could destroy data, the system or the new stacks.

    Raises:
        UnsafeOldDir: ``path`` is not absolute and normalized, is ``/``, a system directory
            (`PROTECTED_DIRS`), inside ``/var/lib/docker``, the stacks root, holds or is
            inside the data root, or is (or holds) a new stack's project directory.
    """
    if not path.startswith("/") or posixpath.normpath(path) != path or "//" in path:
        raise UnsafeOldDir(f"{host}: old stack dir {path!r} must be an absolute, normalized path")
    if path == "/" or path == (stacks_root.rstrip("/") or "/"):
        raise UnsafeOldDir(f"{host}: old stack dir {path} is / or the stacks root: refusing")
    if _inside(data_root, path) or _inside(path, data_root):
        raise UnsafeOldDir(
            f"{host}: old stack dir {path} overlaps the data root {data_root}: refusing "
            "(data under the data root is never removed)"
        )
    if path in PROTECTED_DIRS or _inside(path, "/var/lib/docker") or _inside(path, "/proc"):
        raise UnsafeOldDir(f"{host}: old stack dir {path} is a system directory: refusing")
    for new in new_dirs:
        if _inside(new, path):
            raise UnsafeOldDir(
                f"{host}: old stack dir {path} is or holds the new stack dir {new}: refusing"
            )


def _holder(containers: Sequence[LegacyContainer], name: str) -> LegacyContainer | None:
    return next((c for c in containers if c.name == name), None)


def _plan_dir(
    host: str, d: LegacyDir, facts: LegacyFacts, needed: Mapping[str, str], data_root: str
) -> tuple[list[ProjectStop], DirDecision, list[LegacyContainer]]:
    """Projects to stop in one old dir, what happens to the dir, and the old containers."""
    projects: dict[str, list[LegacyContainer]] = {}
    for c in facts.containers:
        if c.project and c.working_dir.rstrip("/") == d.path:
            projects.setdefault(c.project, []).append(c)
    stops = []
    members_all: list[LegacyContainer] = []
    for project, members in sorted(projects.items()):
        members_all += members
        names = tuple(sorted(c.name for c in members))
        taken = [n for n in names if n in needed]
        reason = f"old monolithic stack in {d.path}"
        if taken:
            reason += f"; holds container name(s) {', '.join(taken)} the new stacks need"
        stops.append(ProjectStop(project, d.path, names, reason))
    if not d.exists:
        return stops, DirDecision(d.path, False, False, "does not exist"), members_all
    data_inside = sorted(
        f"{c.name} mounts {m.source}"
        for c in members_all
        for m in c.mounts
        if m.kind == "bind" and m.source in facts.dir_mounts and _inside(m.source, d.path)
    )
    if data_inside:
        reason = (
            f"holds data ({'; '.join(data_inside)}): move it under {data_root} and "
            "remove the directory by hand"
        )
        return stops, DirDecision(d.path, True, False, reason), members_all
    # Only a directory that holds the old compose project is ever removed: its compose file,
    # or containers whose working dir it is. Anything else (an empty dir, /etc, a typo) is not
    # an old stack and removing it would destroy something nobody asked to migrate.
    if not d.compose_files and not members_all:
        what = "is empty" if d.empty else "holds no compose file and no container ran from it"
        raise UnsafeOldDir(
            f"{host}: old stack dir {d.path} {what}: it does not hold an old compose project "
            f"({' / '.join(COMPOSE_FILE_NAMES)}, or containers whose working dir it is), "
            "so it is not removed; name the old project's directory with -o old_dirs=..."
        )
    held = ", ".join(d.compose_files) or f"containers of {', '.join(sorted(projects))}"
    reason = f"old stack dir ({held}); removed after verify passes"
    return stops, DirDecision(d.path, True, True, reason), members_all


def _check_conflicts(
    host: str,
    facts: LegacyFacts,
    new_stacks: Sequence[RenderedStack],
    stopped: set[str],
) -> None:
    """Raise when a container name a new stack needs is held by something not being stopped."""
    old_dirs = [d.path for d in facts.dirs]
    for s in new_stacks:
        for name in s.containers.values():
            c = _holder(facts.containers, name)
            if c is None or c.project in stopped or c.project == s.project:
                continue
            where = (
                f"compose project {c.project!r} (dir {c.working_dir or '?'})"
                if c.project
                else "a container outside compose"
            )
            raise PlanError(
                f"{host}: container name {name!r} (stack {s.name}) is held by {where}, which "
                f"is not in the old stack dirs {old_dirs}: stop it by hand or name its dir "
                "with -o old_dirs=..."
            )


def _kept_data(
    facts: LegacyFacts,
    new_stacks: Sequence[RenderedStack],
    old_containers: Sequence[LegacyContainer],
    data_root: str,
) -> tuple[tuple[KeptData, ...], list[str]]:
    """Data dirs the migration keeps (new stacks' and old containers' under data_root)."""
    used: dict[str, list[str]] = {}
    warnings: list[str] = []
    new_data = [dd.path for s in new_stacks for dd in s.data_dirs]
    for s in new_stacks:
        for dd in s.data_dirs:
            used.setdefault(dd.path, []).append(f"stack {s.name}")
    for c in old_containers:
        for m in c.mounts:
            if m.kind == "bind" and _inside(m.source, data_root):
                used.setdefault(m.source, []).append(f"old container {c.name}")
                if not any(_inside(m.source, p) for p in new_data):
                    warnings.append(
                        f"{m.source} (mounted by old container {c.name}) is used by no new "
                        "stack: kept, not migrated"
                    )
            elif m.kind == "volume":
                warnings.append(
                    f"named volume {m.source} (old container {c.name}) is kept "
                    "(`docker compose down` without -v); no new stack uses it"
                )
    data = tuple(
        KeptData(path, facts.data.get(path), tuple(dict.fromkeys(who)))
        for path, who in sorted(used.items())
    )
    return data, warnings


def plan_migration(
    host: str,
    facts: LegacyFacts,
    new_stacks: Sequence[RenderedStack],
    *,
    data_root: str,
    stacks_root: str,
) -> MigrationPlan:
    """Plan the migration of one host from its old directories (``facts.dirs``) to ``new_stacks``.

    Rules: every compose project whose working directory is an old dir is stopped (stopped or
    exited containers too: they still hold the container names); an old dir is removed after
    verify only when it holds the old compose project (a compose file, or containers whose
    working dir it is), and not when a container of its projects bind-mounts a directory inside
    it (data that removal would destroy); data under ``data_root`` is never removed and is
    listed with its file count; a container name a new stack needs that is held by anything
    else is an error.

    Raises:
        UnsafeOldDir: an old dir that is unsafe (see `check_old_dir`) or exists without an old
            compose project in it.
        PlanError: Docker not usable, or a container name the new stacks need is held by a
            project outside the old dirs.
    """
    if facts.docker_error:
        raise PlanError(f"{host}: Docker Engine not usable ({facts.docker_error})")
    new_dirs = [s.project_dir for s in new_stacks]
    for d in facts.dirs:
        check_old_dir(host, d.path, data_root=data_root, stacks_root=stacks_root, new_dirs=new_dirs)
    needed = {name: s.name for s in new_stacks for name in s.containers.values()}
    stops: list[ProjectStop] = []
    decisions: list[DirDecision] = []
    old_containers: list[LegacyContainer] = []
    for d in facts.dirs:
        dir_stops, decision, members = _plan_dir(host, d, facts, needed, data_root)
        stops += dir_stops
        decisions.append(decision)
        old_containers += members
    _check_conflicts(host, facts, new_stacks, {s.project for s in stops})
    data, warnings = _kept_data(facts, new_stacks, old_containers, data_root)
    noop = ""
    if not stops and not any(d.remove for d in decisions):
        paths = ", ".join(d.path for d in facts.dirs)
        noop = f"no old stack found in {paths}" if paths else "no old dirs given"
    return MigrationPlan(
        host=host,
        stop=tuple(stops),
        dirs=tuple(decisions),
        data=data,
        new_stacks=tuple(s.name for s in new_stacks),
        new_projects=tuple((s.project, s.project_dir) for s in new_stacks),
        warnings=tuple(dict.fromkeys(warnings)),
        noop_reason=noop,
    )
