"""Drift: what runs on a host compared with what is desired, item by item, with a remedy.

Pure: the deploy's own plan (`plan.stacks.plan_stack`) over the same facts says which files and
data dirs differ from the rendered ones; the containers are compared with the rendered compose
file (missing, not running, another image, extra services) and with the state record (did the
last completed deploy apply the files the host holds now); the zone's drift is a non-empty
record plan (`plan.zoneplan`) for the records nornir_homehub manages.

Not compared: Compose's ``com.docker.compose.config-hash`` (Compose computes it from its own
normalised model, which cannot be rebuilt without Compose; a change of what the hash covers
comes from the compose or env files, which are compared by content), and settings a service
keeps in its own database (Open WebUI's PersistentConfig).
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from nornir_homehub.defaults import STACK_STATE_FILE
from nornir_homehub.errors import PlanError
from nornir_homehub.plan.stacks import plan_stack
from nornir_homehub.records import as_dict

if TYPE_CHECKING:
    from nornir_homehub.facts.stacks import HostStackFacts
    from nornir_homehub.plan.zonechanges import ZonePlan
    from nornir_homehub.render import RenderedStack


class DriftKind(enum.StrEnum):
    """What drifted."""

    FILE = "file"
    DIR = "dir"
    CONTAINER = "container"
    STATE = "state"
    STEP = "step"
    RECORD = "record"


@dataclass(frozen=True)
class DriftItem:
    """One thing on a host that is not as desired.

    Attributes:
        host: the host's inventory name.
        stack: the stack it belongs to (``zone`` for zone records).
        kind: what drifted.
        name: the file path, container name, data dir, step or record (``chat CNAME``).
        what: how it differs, in words.
        remedy: the command that brings it back.
    """

    host: str
    stack: str
    kind: DriftKind
    name: str
    what: str
    remedy: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {**as_dict(self), "kind": str(self.kind)}

    def line(self) -> str:
        """``DRIFT host stack kind name: what`` (the remedy goes on the next line)."""
        return f"DRIFT {self.host} {self.stack} {self.kind} {self.name}: {self.what}"


def deploy_remedy(host: str, stack: str) -> str:
    """The command that deploys ``stack`` on ``host`` again."""
    return f"run `python -m nornir_homehub deploy --stacks {stack} --limit {host}`"


def compose_images(stack: RenderedStack) -> dict[str, str]:
    """Service -> image of the stack's rendered compose file ({} when it has none)."""
    f = stack.files.get(stack.compose_file)
    if f is None:
        return {}
    try:
        doc = yaml.safe_load(f.content.decode("utf-8", "replace"))
    except yaml.YAMLError:
        return {}
    services = doc.get("services") if isinstance(doc, Mapping) else None
    if not isinstance(services, Mapping):
        return {}
    return {
        str(name): str(svc["image"])
        for name, svc in services.items()
        if isinstance(svc, Mapping) and svc.get("image")
    }


def plan_drift(stack: RenderedStack, facts: HostStackFacts) -> tuple[DriftItem, ...]:
    """Every way ``stack`` on its host differs from its rendered form (empty: no drift).

    Files missing, edited (content) or with another mode; data dirs missing or with another
    mode/owner; containers missing, not running, running another image than the compose file
    names, or of a service the compose file does not have; files the host holds that the last
    completed deploy did not apply (the containers do not run with them); post-deploy steps
    whose check fails (a model not pulled).
    """
    host, name = stack.host, stack.name
    remedy = deploy_remedy(host, name)

    def item(kind: DriftKind, what_name: str, what: str) -> DriftItem:
        return DriftItem(host, name, kind, what_name, what, remedy)

    try:
        plan = plan_stack(stack, facts)
    except PlanError as exc:
        taken = next(iter(stack.containers.values()), name)
        return (item(DriftKind.CONTAINER, taken, str(exc)),)
    out = []
    for change in plan.do_write:
        remote = facts.files.get(change.path)
        want = stack.files[change.path]
        if change.reason == "missing":
            what = "missing on the host"
        elif change.reason == "content":
            what = "content differs from the rendered file (edited on the host?)"
        else:
            have = f"{remote.mode:o}" if remote is not None and remote.mode is not None else "?"
            what = f"mode {have}, desired {want.mode:o}"
        out.append(item(DriftKind.FILE, change.path, what))
    out += [item(DriftKind.DIR, path, reason) for path, reason in plan.do_dirs]
    out += _containers(stack, facts, item)
    out += _state(stack, facts, item, {c.path for c in plan.do_write})
    out += [
        item(DriftKind.STEP, step, "post-deploy step not satisfied") for step in plan.pending_steps
    ]
    return tuple(out)


def _containers(stack: RenderedStack, facts: HostStackFacts, item: Any) -> list[DriftItem]:
    out = []
    images = compose_images(stack)
    running = {c.service: c for c in facts.project_containers(stack.project)}
    for service in stack.services:
        c = running.get(service)
        cname = stack.containers.get(service, service)
        if c is None:
            out.append(item(DriftKind.CONTAINER, cname, f"missing (service {service})"))
            continue
        if not c.running:
            out.append(item(DriftKind.CONTAINER, c.name, f"is {c.state}, desired running"))
        want = images.get(service)
        if want and c.image != want:
            out.append(
                item(DriftKind.CONTAINER, c.name, f"runs image {c.image}, compose says {want}")
            )
    for service, c in sorted(running.items()):
        if service not in stack.services:
            out.append(
                item(
                    DriftKind.CONTAINER,
                    c.name,
                    f"extra: service {service} is not in the compose file",
                )
            )
    return out


def _state(
    stack: RenderedStack, facts: HostStackFacts, item: Any, differing: Collection[str]
) -> list[DriftItem]:
    """Files the host holds as rendered that the last completed deploy did not apply."""
    last = facts.states.get(stack.project_dir)
    if not facts.project_containers(stack.project):
        return []
    record = f"{stack.project_dir}/{STACK_STATE_FILE}"
    if last is None:
        return [item(DriftKind.STATE, record, "no record of a completed deploy")]
    if last.files is None:
        if last.config_hash == stack.config_hash:
            return []
        return [item(DriftKind.STATE, record, "last deploy did not complete (older record)")]
    return [
        item(DriftKind.STATE, path, "on the host but not applied: containers run without it")
        for path, f in stack.files.items()
        if path not in differing and last.files.get(path) != f.sha256
    ]


def extra_projects(
    host: str, facts: HostStackFacts, projects: Mapping[str, str], deployed: Collection[str]
) -> tuple[DriftItem, ...]:
    """Containers of a known stack's project that ``host`` does not deploy.

    Args:
        host: the host's name.
        facts: its stack facts.
        projects: compose project -> stack, for every stack there is.
        deployed: the projects the host deploys.
    """
    return tuple(
        DriftItem(
            host,
            projects[c.project],
            DriftKind.CONTAINER,
            c.name,
            f"extra: stack {projects[c.project]} is not in this host's stacks",
            f"remove it on the host (`docker compose -p {c.project} down`) or add the stack "
            "to the host's inventory 'stacks'",
        )
        for c in facts.containers
        if c.project in projects and c.project not in deployed
    )


def zone_drift(host: str, plan: ZonePlan) -> tuple[DriftItem, ...]:
    """The zone's drift: every managed record the zone plan would add, change or remove.

    A serial or state-file update alone is no drift; a plan that needs ``--prune``/``--force``
    (a foreign record in the way) is.
    """
    remedy = "run `python -m nornir_homehub dns --dry-run` to see the plan, then `dns`"
    out = [
        DriftItem(host, "zone", DriftKind.RECORD, f"{c.name} {c.rtype}", c.text(), remedy)
        for c in plan.changes
    ]
    out += [
        DriftItem(
            host,
            "zone",
            DriftKind.RECORD,
            plan.zone,
            r.reason,
            f"run `python -m nornir_homehub dns --dry-run`, then `dns {r.allowed_by}`"
            if r.allowed_by
            else remedy,
        )
        for r in plan.refused
    ]
    return tuple(out)
