"""Plan a zero-downtime update: which routed services get a twin while Compose recreates them.

A stack whose template declares ``zero_downtime`` keeps its routed services answering while
they are recreated: a temporary twin of the NEW configuration (same image, env, mounts,
networks and Traefik labels; container ``<name>-twin`` in compose project ``<project>-twin``)
starts first and takes the traffic until the recreated container is healthy and routed again.
Pure: no I/O. Every decision carries a reason, for the dry run and the report.
"""

from __future__ import annotations

import enum
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from nornir_homehub.facts.traefik import compose_labels
from nornir_homehub.plan.stacks import ComposeAction

if TYPE_CHECKING:
    from nornir_homehub.facts.stacks import HostStackFacts
    from nornir_homehub.plan.stacks import StackPlan
    from nornir_homehub.render import RenderedStack

TWIN_SUFFIX = "-twin"
DRAIN_FILE = "/tmp/.homehub-drain"


class UpdatePath(enum.StrEnum):
    """How a service is updated."""

    TWIN = "twin"  # a twin serves while Compose recreates the service
    RECREATE = "recreate"  # Compose's stop-first recreate (a gap while it starts)


@dataclass(frozen=True)
class Routed:
    """What Traefik knows a routed compose service by (from its labels)."""

    service: str  # the compose service
    traefik_service: str  # ``traefik.http.services.<name>``
    port: int  # its ``loadbalancer.server.port``
    network: str  # ``traefik.docker.network`` (the network Traefik reaches it on)


@dataclass(frozen=True)
class ServiceUpdate:
    """The update path of one service of a changed stack, and why."""

    service: str
    path: UpdatePath
    reason: str
    container: str = ""  # the real container's name
    twin: str = ""  # the twin's container name (TWIN path only)
    routed: Routed | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        plain = {k: getattr(self, k) for k in ("service", "reason", "container", "twin")}
        routed = self.routed.traefik_service if self.routed else None
        return {**plain, "path": str(self.path), "traefik_service": routed}


@dataclass(frozen=True)
class TwinPlan:
    """A stack's zero-downtime plan: each service's path, and twins left by an earlier run."""

    stack: str
    project: str  # the twins' compose project
    updates: tuple[ServiceUpdate, ...] = ()
    leftovers: tuple[str, ...] = ()  # twin containers found before anything started

    @property
    def twins(self) -> tuple[ServiceUpdate, ...]:
        """The services that take the twin path."""
        return tuple(u for u in self.updates if u.path is UpdatePath.TWIN)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "stack": self.stack,
            "project": self.project,
            "updates": [u.to_dict() for u in self.updates],
            "leftovers": list(self.leftovers),
        }


def twin_project(project: str) -> str:
    """The compose project the twins of ``project`` run in."""
    return f"{project}{TWIN_SUFFIX}"


def routed_services(compose_text: str) -> dict[str, Routed]:
    """Compose service -> its Traefik service, for services with ``traefik.enable=true``.

    A service counts only when its labels name exactly one Traefik service with a port (the
    twin must be found in Traefik's API by that name and port).
    """
    try:
        doc = yaml.safe_load(compose_text) or {}
    except yaml.YAMLError:
        return {}
    services = doc.get("services") if isinstance(doc, Mapping) else None
    out: dict[str, Routed] = {}
    for name, svc in (services or {}).items():
        raw = svc.get("labels") if isinstance(svc, Mapping) else None
        labels = compose_labels(raw)
        if labels.get("traefik.enable", "").lower() != "true":
            continue
        ports = {
            k.split(".")[3]: v
            for k, v in labels.items()
            if k.startswith("traefik.http.services.")
            and k.endswith(".loadbalancer.server.port")
            and len(k.split(".")) == 7
        }
        if len(ports) != 1:
            continue
        ((tsvc, port),) = ports.items()
        if not port.isdigit():
            continue
        out[str(name)] = Routed(
            str(name), tsvc, int(port), labels.get("traefik.docker.network", "")
        )
    return out


def _images(compose_text: str) -> dict[str, str]:
    try:
        doc = yaml.safe_load(compose_text) or {}
    except yaml.YAMLError:
        return {}
    services = doc.get("services") if isinstance(doc, Mapping) else None
    return {
        str(n): str(s.get("image", ""))
        for n, s in (services or {}).items()
        if isinstance(s, Mapping)
    }


def plan_twins(stack: RenderedStack, plan: StackPlan | None, facts: HostStackFacts) -> TwinPlan:
    """Decide, per service of a changed stack, whether a twin serves during its recreate.

    Rules: nothing without the template's ``zero_downtime``, or when the plan runs no compose
    action; a service takes the twin path when it is routed by Traefik (labels), its container
    is up and ready now (there is something serving to keep), and, in mode ``config``, the
    image stays the same (a new image may migrate the data the twin would share: stop first).
    Twins of this stack already on the host (a run killed mid-swap) are ``leftovers``.
    """
    project = twin_project(stack.project)
    leftovers = tuple(c.name for c in facts.containers if c.project == project)
    if not stack.zero_downtime or plan is None or plan.action is ComposeAction.NONE:
        return TwinPlan(stack.name, project, (), leftovers)
    text = stack.files[stack.compose_file].content.decode("utf-8", "replace")
    routed = routed_services(text)
    images = _images(text)
    current = {c.service: c for c in facts.project_containers(stack.project)}
    updates = []
    for service in stack.services:
        name = stack.containers.get(service, service)
        old = current.get(service)
        path, reason = UpdatePath.RECREATE, ""
        if service not in routed:
            reason = "not routed by Traefik (no traefik.enable, or no single service port)"
        elif old is None or not old.ready:
            state = "missing" if old is None else f"{old.state}/{old.health}"
            reason = f"no ready container to keep serving ({state}): plain recreate"
        elif stack.zero_downtime == "config" and old.image != images.get(service, old.image):
            reason = (
                f"image changes ({old.image} -> {images.get(service)}): a new image may migrate "
                "the data the twin would share, so it stops first"
            )
        else:
            path = UpdatePath.TWIN
            reason = "routed, serving now: a twin of the new config serves during the recreate"
        updates.append(
            ServiceUpdate(
                service,
                path,
                reason,
                container=name,
                twin=f"{name}{TWIN_SUFFIX}" if path is UpdatePath.TWIN else "",
                routed=routed.get(service),
            )
        )
    return TwinPlan(stack.name, project, tuple(updates), leftovers)


def render_twin_override(plan: TwinPlan, compose_text: str) -> str:
    """The compose override for the twins (YAML text): a name, a healthcheck that can drain.

    Each twin gets its own container name and the service's healthcheck, checked every second,
    that also fails once `DRAIN_FILE` exists: creating that file in the twin makes Docker call
    it unhealthy and Traefik stop routing to it while it still serves, so it is stopped with
    no request on its way to it.
    """
    try:
        doc = yaml.safe_load(compose_text) or {}
    except yaml.YAMLError:
        doc = {}
    services = doc.get("services") if isinstance(doc, Mapping) else None
    out: dict[str, dict[str, Any]] = {}
    for u in plan.twins:
        svc = (services or {}).get(u.service)
        check = _drainable(svc.get("healthcheck") if isinstance(svc, Mapping) else None)
        out[u.service] = {"container_name": u.twin, **({"healthcheck": check} if check else {})}
    return yaml.safe_dump({"services": out}, sort_keys=True)


def _drainable(check: Any) -> dict[str, Any] | None:
    test = check.get("test") if isinstance(check, Mapping) else None
    if isinstance(test, str):
        cmd = test
    elif isinstance(test, list) and len(test) > 1 and test[0] == "CMD-SHELL":
        cmd = str(test[1])
    elif isinstance(test, list) and len(test) > 1 and test[0] == "CMD":
        cmd = " ".join(shlex.quote(str(a)) for a in test[1:])
    else:
        return None
    drained = f"test ! -e {DRAIN_FILE} && ({cmd})"
    return {"test": ["CMD-SHELL", drained], "interval": "1s", "retries": 1}


def server_url(address: str, port: int) -> str:
    """The URL Traefik's docker provider gives a container's server (``http://IP:port``)."""
    return f"http://{address}:{port}"
