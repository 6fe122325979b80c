"""Docker Engine facts: every container on a host, from ONE command and ONE parser.

Deploy (facts and health wait), verify, migrate and the lab all ask the same question ("which
containers are there, in which state"), so they share `containers_command` and
`parse_containers`; the lab's image labels and network gateway are asked here too. Two
properties matter more than brevity:

- **No race fails a run.** ``docker ps -aq`` and ``docker inspect $ids`` are two calls; a
  container removed in between (Compose recreating one, another tool cleaning up) makes
  ``inspect`` exit 1 with ``No such container`` while it still prints every other container.
  That is an ordinary answer, not an error.
- **No other container's data in any message.** ``inspect`` is asked, through a Go template,
  for exactly the fields this package reads: never ``Config.Env`` (other containers'
  environment holds their secrets), ``Cmd`` or labels other than Compose's. An error message is
  built from stderr only, never from the inspect output.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from nornir_homehub.codes import EXIT_NO_DOCKER
from nornir_homehub.secrets import redact_head

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
WORKING_DIR_LABEL = "com.docker.compose.project.working_dir"

_VANISHED = ("No such container", "No such object")


def _label(name: str) -> str:
    # `index` on a missing key gives null; `with` guards containers without any label.
    return f'{{{{with .Config.Labels}}}}{{{{json (index . "{name}")}}}}{{{{else}}}}null{{{{end}}}}'


# One JSON object per line. Networks and mounts are printed whole: neither carries secrets.
# The CLI runs the template on the decoded JSON (maps), where a missing key is an error:
# `index` reads keys that may be absent (State.Health exists only with a healthcheck).
CONTAINER_FORMAT = (
    '{"id":{{json .Id}},"name":{{json .Name}},"state":{{json .State.Status}},'
    '"exit_code":{{json .State.ExitCode}},"started_at":{{json .State.StartedAt}},'
    '"health":{{with index .State "Health"}}{{json .Status}}{{else}}null{{end}},'
    '"restart_count":{{json .RestartCount}},"image":{{json .Config.Image}},'
    f'"project":{_label(PROJECT_LABEL)},"service":{_label(SERVICE_LABEL)},'
    f'"working_dir":{_label(WORKING_DIR_LABEL)},'
    '"networks":{{json .NetworkSettings.Networks}},"mounts":{{json .Mounts}}}'
)


class _Output(Protocol):
    """What `parse_containers` needs of a command result (`connection.CommandResult`)."""

    @property
    def exit_code(self) -> int: ...

    @property
    def stdout(self) -> str: ...

    @property
    def stderr(self) -> str: ...


@dataclass(frozen=True)
class MountFact:
    """A container mount: a bind mount's host path or a named volume."""

    kind: str  # "bind", "volume", "tmpfs", ...
    source: str  # host path (bind) or volume name (volume)
    destination: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"kind": self.kind, "source": self.source, "destination": self.destination}


@dataclass(frozen=True)
class ContainerFact:
    """One container as the engine reports it (only the fields the package reads).

    Attributes:
        health: Docker's health status, None when the container has no healthcheck.
        restart_count: how often the engine restarted it (restart policy) since it was created.
        networks: network name -> the container's address there ("" when none).
    """

    id: str
    name: str
    state: str
    exit_code: int
    started_at: str
    health: str | None
    restart_count: int
    image: str
    project: str
    service: str
    working_dir: str
    networks: Mapping[str, str] = field(default_factory=dict)
    mounts: tuple[MountFact, ...] = ()


@dataclass(frozen=True)
class DockerContainers:
    """The answer to `containers_command`.

    Attributes:
        containers: every container listed (those that vanished mid-command are left out).
        error: why the engine could not be asked (None when it answered); from stderr only.
        vanished: how many listed containers were gone when ``inspect`` ran (a normal race).
    """

    containers: tuple[ContainerFact, ...] = ()
    error: str | None = None
    vanished: int = 0


def containers_command(*, label: str | None = None) -> str:
    """Shell command listing every container (or those with ``label``), one JSON line each.

    Exits `EXIT_NO_DOCKER` when ``docker ps`` fails; parse with `parse_containers`.
    """
    flt = f" --filter label={shlex.quote(label)}" if label else ""
    return (
        f"ids=$(docker ps -aq --no-trunc{flt}) || exit {EXIT_NO_DOCKER}; "
        '[ -n "$ids" ] || exit 0; '
        f"docker inspect --type container --format {shlex.quote(CONTAINER_FORMAT)} $ids"
    )


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _container(item: Mapping[str, Any]) -> ContainerFact:
    nets = item.get("networks") or {}
    mounts = tuple(
        MountFact(
            kind=_str(m.get("Type")),
            source=_str(m.get("Source") if m.get("Type") == "bind" else m.get("Name")),
            destination=_str(m.get("Destination")),
        )
        for m in item.get("mounts") or []
        if isinstance(m, Mapping)
    )
    return ContainerFact(
        id=_str(item.get("id")),
        name=_str(item.get("name")).lstrip("/"),
        state=_str(item.get("state")) or "unknown",
        exit_code=_int(item.get("exit_code")),
        started_at=_str(item.get("started_at")),
        health=_str(item["health"]) if item.get("health") else None,
        restart_count=_int(item.get("restart_count")),
        image=_str(item.get("image")),
        project=_str(item.get("project")),
        service=_str(item.get("service")),
        working_dir=_str(item.get("working_dir")),
        networks={
            str(n): _str((v or {}).get("IPAddress")) for n, v in nets.items() if isinstance(n, str)
        },
        mounts=mounts,
    )


def parse_containers(result: _Output) -> DockerContainers:
    """Turn the result of `containers_command` into `DockerContainers`.

    ``inspect`` exiting 1 only because listed containers vanished is a normal answer. Any
    other failure is an error described by the last line of stderr (never by stdout, which
    holds the containers' details).
    """
    err_lines = [ln.strip() for ln in result.stderr.splitlines() if ln.strip()]
    vanished = [ln for ln in err_lines if any(v in ln for v in _VANISHED)]
    others = [ln for ln in err_lines if ln not in vanished]
    if result.exit_code == EXIT_NO_DOCKER or (result.exit_code != 0 and (others or not vanished)):
        detail = redact_head(others[-1], 300) if others else f"docker exited {result.exit_code}"
        return DockerContainers(error=detail)
    out = []
    for raw in result.stdout.splitlines():
        line = raw.strip()
        if not line:
            continue
        try:
            item = json.loads(line)
        except ValueError:
            return DockerContainers(error="unreadable `docker inspect` output (not JSON lines)")
        if isinstance(item, Mapping):
            out.append(_container(item))
    return DockerContainers(tuple(out), None, len(vanished))


def inspect_line(container: ContainerFact) -> str:
    """The line `containers_command` prints for ``container`` (for tests and stand-ins)."""
    return json.dumps(
        {
            "id": container.id,
            "name": "/" + container.name,
            "state": container.state,
            "exit_code": container.exit_code,
            "started_at": container.started_at,
            "health": container.health,
            "restart_count": container.restart_count,
            "image": container.image,
            "project": container.project,
            "service": container.service,
            "working_dir": container.working_dir,
            "networks": {n: {"IPAddress": a} for n, a in container.networks.items()},
            "mounts": [
                {"Type": m.kind, "Source": m.source, "Name": m.source, "Destination": m.destination}
                for m in container.mounts
            ],
        }
    )


# -- images and networks (the lab's stand-in images and edge network) ---------------------------
def image_label_command(image: str, label: str) -> str:
    """Shell command printing ``image``'s ``label``; parse with `parse_image_label`."""
    fmt = "{{ index .Config.Labels " + f'"{label}"' + " }}"
    return f"docker image inspect --format {shlex.quote(fmt)} {shlex.quote(image)}"


def parse_image_label(result: _Output) -> str:
    """The label value `image_label_command` printed; "" when there is no such image."""
    return result.stdout.strip() if result.exit_code == 0 else ""


def network_gateway_command(network: str) -> str:
    """Shell command printing the gateway addresses of ``network``; see `parse_gateway`."""
    fmt = "{{range .IPAM.Config}}{{.Gateway}} {{end}}"
    return f"docker network inspect -f {shlex.quote(fmt)} {shlex.quote(network)}"


def parse_gateway(result: _Output) -> str:
    """The network's first gateway address; "" when it has none or does not exist."""
    return next(iter(result.stdout.split()), "") if result.exit_code == 0 else ""
