"""Plan a stack deploy: rendered files vs remote facts -> what to write and what to restart.

Pure: no I/O. Every decision carries a reason, so dry-run and reports can say *why*.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nornir_homehub.errors import PlanError

if TYPE_CHECKING:
    from nornir_homehub.facts.stacks import Container, HostStackFacts, StackState
    from nornir_homehub.render import RenderedStack


class ComposeAction(enum.StrEnum):
    """What happens to the compose project."""

    NONE = "none"
    UP = "up"  # docker compose up -d (creates/recreates what Compose sees changed)
    RECREATE = "recreate"  # only force-recreate services whose mounted files changed


@dataclass(frozen=True)
class FileChange:
    """A file that must be written (content) or only have its mode/owner fixed."""

    path: str
    reason: str  # "missing", "content", "mode"
    content_changed: bool

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"path": self.path, "reason": self.reason}


@dataclass(frozen=True)
class StackPlan:
    """The plan for one stack on one host.

    Attributes:
        do_write: files to upload (content differs or missing) or chmod/chown (mode only).
        do_dirs: data dirs to create or fix (path -> reason).
        action: compose action; ``reasons`` says why (empty when NONE).
        recreate: services to force-recreate because a file they mount changed.
        noop_reason: why nothing needs doing (when nothing does).
    """

    stack: str
    project: str
    do_write: tuple[FileChange, ...]
    do_dirs: tuple[tuple[str, str], ...]
    action: ComposeAction
    reasons: tuple[str, ...]
    recreate: tuple[str, ...]
    pending_steps: tuple[str, ...] = ()
    noop_reason: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def changed(self) -> bool:
        """True when applying the plan changes anything on the host."""
        return bool(
            self.do_write
            or self.do_dirs
            or self.action is not ComposeAction.NONE
            or self.pending_steps
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "stack": self.stack,
            "project": self.project,
            "changed": self.changed,
            "files": [f.to_dict() for f in self.do_write],
            "dirs": [{"path": p, "reason": r} for p, r in self.do_dirs],
            "action": str(self.action),
            "reasons": list(self.reasons),
            "recreate": list(self.recreate),
            "pending_steps": list(self.pending_steps),
            "noop_reason": self.noop_reason,
        }


def plan_stack(
    stack: RenderedStack,
    facts: HostStackFacts,
    *,
    force: bool = False,
    image_updates: tuple[str, ...] = (),
) -> StackPlan:
    """Compare a rendered stack with the host's facts.

    ``image_updates`` (`plan.pull.image_updates`, after ``deploy --pull``) are reasons to run
    ``docker compose up -d``: a tag now names another image than a container runs, and
    Compose recreates exactly the services whose image changed.

    Raises:
        PlanError: a container name the stack needs is held by another project or container.

    Rules: a file is written when missing or its hash differs, chmod/chown'ed when only mode or
    owner differ; ``docker compose up -d`` runs when a file Compose reads (compose file, env
    files) changed, when a service's container is missing or not running, when the last deploy
    did not complete, or with ``force``; services that mount a changed file Compose does not
    see (``restarts`` in template.yaml) are force-recreated.

    "Changed" means: differs on the host now, OR is on the host but was not what the last
    completed deploy applied (the state record's per-file hashes): a run that died between an
    upload and compose left the new file in place, and only the state shows the container never
    picked it up. A state record without per-file hashes (an older version wrote it) that
    matches the rendered stack means nothing to do; one that does not match cannot say which
    file is new, so every service with a mounted file is recreated, and the reason says why.
    """
    _check_names(stack, facts)
    writes = _plan_files(stack, facts)
    dirs = _plan_dirs(stack, facts)
    content_changed = [w.path for w in writes if w.content_changed]
    containers = facts.project_containers(stack.project)
    stale, state_reason = _unapplied(stack, facts.states.get(stack.project_dir), containers)
    unapplied = [p for p in stale if p not in content_changed]
    mounted = {p for p, f in stack.files.items() if f.restarts}
    restarts = stack.restarts_for([*content_changed, *unapplied])
    compose_inputs = [p for p in content_changed if p not in mounted]
    reasons = _compose_reasons(stack, facts, compose_inputs, force)
    reasons += image_updates
    if any(p not in mounted for p in unapplied):
        reasons.append(state_reason)
    if reasons:
        action = ComposeAction.UP
        # `up -d` recreates services whose compose config changed; mounted files need force,
        # but only for containers that already exist (`up` creates the others fresh).
        existing = {c.service for c in containers}
        recreate = tuple(s for s in restarts if s in existing)
    elif restarts:
        action = ComposeAction.RECREATE
        recreate = tuple(restarts)
        changed_mounts = [p for p in content_changed if p in mounted]
        if changed_mounts:
            reasons.append(
                "mounted file changed: " + ", ".join(_short(stack, p) for p in changed_mounts)
            )
    else:
        action = ComposeAction.NONE
        recreate = ()
    if recreate and any(p in mounted for p in unapplied) and state_reason not in reasons:
        reasons.append(state_reason)
    pending = tuple(
        step.name
        for i, step in enumerate(stack.post_deploy)
        if facts.checks.get(f"{stack.name}:{i}", 1) != 0
    )
    noop = ""
    if not (writes or dirs or action is not ComposeAction.NONE or pending):
        noop = "files, data dirs and containers match; post-deploy steps satisfied"
    return StackPlan(
        stack=stack.name,
        project=stack.project,
        do_write=tuple(writes),
        do_dirs=tuple(dirs),
        action=action,
        reasons=tuple(reasons),
        recreate=recreate,
        pending_steps=pending,
        noop_reason=noop,
    )


def _unapplied(
    stack: RenderedStack, last: StackState | None, containers: list[Container]
) -> tuple[list[str], str]:
    """Files the last completed deploy did not apply (the host may hold them all the same).

    Returns:
        (paths, reason): every file when that deploy is unknown (no record while containers
        exist; an older record whose hash differs), else those whose hash differs from the
        record's.
    """
    everything = list(stack.files)
    if last is None:
        return (everything if containers else []), "no record of a completed deploy"
    if last.files is None:
        if last.config_hash == stack.config_hash:
            return [], ""
        return everything, (
            "last deploy did not complete (state hash differs; the state record was written "
            "by an older version without per-file hashes, so services with mounted files are "
            "recreated)"
        )
    stale = [p for p, f in stack.files.items() if last.files.get(p) != f.sha256]
    names = ", ".join(_short(stack, p) for p in stale)
    return stale, f"last deploy did not complete: {names} not applied yet"


def _check_names(stack: RenderedStack, facts: HostStackFacts) -> None:
    for service, name in stack.containers.items():
        other = next(
            (c for c in facts.containers if c.name == name and c.project != stack.project), None
        )
        if other is not None:
            owner = (
                f"compose project {other.project!r}"
                if other.project
                else "a container outside compose"
            )
            raise PlanError(
                f"{stack.host}: stack {stack.name}: "
                f"container name {name!r} (service {service}) is taken by {owner}; "
                "stop and remove it first (an old monolithic stack? see the migrate runbook)"
            )


def _plan_files(stack: RenderedStack, facts: HostStackFacts) -> list[FileChange]:
    writes: list[FileChange] = []
    for path, f in stack.files.items():
        remote = facts.files.get(path)
        if remote is None or not remote.exists:
            writes.append(FileChange(path, "missing", True))
        elif remote.sha256 != f.sha256:
            writes.append(FileChange(path, "content", True))
        elif remote.mode != f.mode:
            writes.append(FileChange(path, "mode", False))
    return writes


def _plan_dirs(stack: RenderedStack, facts: HostStackFacts) -> list[tuple[str, str]]:
    dirs: list[tuple[str, str]] = []
    for d in stack.data_dirs:
        rd = facts.dirs.get(d.path)
        if rd is None or not rd.exists:
            dirs.append((d.path, "missing"))
        elif (rd.mode, rd.owner, rd.group) != (d.mode, d.owner, d.group):
            dirs.append((d.path, f"mode/owner {rd.mode:o} {rd.owner}:{rd.group}"))
    return dirs


def _compose_reasons(
    stack: RenderedStack,
    facts: HostStackFacts,
    compose_inputs: list[str],
    force: bool,
) -> list[str]:
    reasons: list[str] = []
    if force:
        reasons.append("--force")
    if compose_inputs:
        reasons.append("changed: " + ", ".join(_short(stack, p) for p in compose_inputs))
    containers = {c.service: c for c in facts.project_containers(stack.project)}
    for service in stack.services:
        c = containers.get(service)
        if c is None:
            reasons.append(f"container for service {service} missing")
        elif not c.running:
            reasons.append(f"container {c.name} is {c.state}")
    return reasons


def _short(stack: RenderedStack, path: str) -> str:
    prefix = stack.project_dir.rstrip("/") + "/"
    return path[len(prefix) :] if path.startswith(prefix) else path
