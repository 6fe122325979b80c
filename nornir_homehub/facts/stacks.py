"""Stack facts: remote file hashes and modes, data dirs, compose containers, deploy state.

All gathered in one round trip per host (`stack_fact_commands` + `HostConnection.run_batch`),
parsed by pure ``parse_*`` functions. File *content* is never read here: only hashes.
"""

from __future__ import annotations

import enum
import json
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nornir_homehub.secrets import redact_tail

STATE_FILE = ".homehub-state.json"


@dataclass(frozen=True)
class RemoteFile:
    """What is on the host at a path (``exists`` False when missing)."""

    path: str
    exists: bool
    mode: int | None = None
    owner: str | None = None
    group: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class RemoteDir:
    """A data directory on the host."""

    path: str
    exists: bool
    mode: int | None = None
    owner: str | None = None
    group: str | None = None


class Health(enum.StrEnum):
    """Docker health status of a container (NONE when it has no healthcheck)."""

    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    STARTING = "starting"
    NONE = "none"


@dataclass(frozen=True)
class Container:
    """A compose-managed container as Docker Engine reports it (``docker inspect``)."""

    id: str
    name: str
    project: str
    service: str
    state: str
    health: Health
    started_at: str
    image: str

    @property
    def running(self) -> bool:
        """True when the container runs."""
        return self.state == "running"

    @property
    def ready(self) -> bool:
        """Running and healthy (or without a healthcheck)."""
        return self.running and self.health in (Health.HEALTHY, Health.NONE)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "id": self.id[:12],
            "name": self.name,
            "project": self.project,
            "service": self.service,
            "state": self.state,
            "health": str(self.health),
            "started_at": self.started_at,
            "image": self.image,
        }


@dataclass(frozen=True)
class HostStackFacts:
    """Everything the stack planner needs to know about one host."""

    files: Mapping[str, RemoteFile]
    dirs: Mapping[str, RemoteDir]
    containers: tuple[Container, ...]
    states: Mapping[str, str]  # project dir -> config hash of the last completed deploy
    docker_error: str | None = None
    checks: Mapping[str, int] = field(default_factory=dict)  # post-deploy `unless` exit codes

    def project_containers(self, project: str) -> list[Container]:
        """Containers of one compose project."""
        return [c for c in self.containers if c.project == project]


def _q(paths: Iterable[str]) -> str:
    return " ".join(shlex.quote(p) for p in paths)


def stack_fact_commands(
    files: Iterable[str],
    dirs: Iterable[str],
    project_dirs: Iterable[str],
    unless: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Shell commands for `HostConnection.run_batch`; parse with `parse_stack_facts`."""
    cmds = {
        "files": (
            f'for p in {_q(files)}; do if [ -f "$p" ]; then '
            'printf \'%s %s \' "$p" "$(stat -c \'%a %U %G\' "$p")"; '
            "sha256sum < \"$p\" | cut -d' ' -f1; else printf '%s MISSING\\n' \"$p\"; fi; done"
        ),
        "dirs": (
            f'for p in {_q(dirs)}; do if [ -d "$p" ]; then stat -c \'%n %a %U %G\' "$p"; '
            "else printf '%s MISSING\\n' \"$p\"; fi; done"
        ),
        "states": (
            f'for d in {_q(project_dirs)}; do if [ -f "$d/{STATE_FILE}" ]; then '
            f"printf '%s ' \"$d\"; tr -d '\\n' < \"$d/{STATE_FILE}\"; echo; fi; done"
        ),
        "containers": (
            "ids=$(docker ps -aq) || exit 90; "
            "if [ -z \"$ids\" ]; then echo '[]'; else docker inspect $ids; fi"
        ),
    }
    for key, command in (unless or {}).items():
        cmds[f"unless:{key}"] = command
    return cmds


def parse_files(text: str) -> dict[str, RemoteFile]:
    """Parse the ``files`` fact: ``path mode owner group sha256`` or ``path MISSING`` lines."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] == "MISSING":
            out[parts[0]] = RemoteFile(parts[0], exists=False)
        elif len(parts) == 5:
            out[parts[0]] = RemoteFile(
                parts[0], True, int(parts[1], 8), parts[2], parts[3], parts[4]
            )
    return out


def parse_dirs(text: str) -> dict[str, RemoteDir]:
    """Parse the ``dirs`` fact: ``path mode owner group`` or ``path MISSING`` lines."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] == "MISSING":
            out[parts[0]] = RemoteDir(parts[0], exists=False)
        elif len(parts) == 4:
            out[parts[0]] = RemoteDir(parts[0], True, int(parts[1], 8), parts[2], parts[3])
    return out


def parse_states(text: str) -> dict[str, str]:
    """Parse the ``states`` fact: project dir -> config hash of the last completed deploy."""
    out = {}
    for line in text.splitlines():
        path, _, raw = line.partition(" ")
        try:
            out[path] = str(json.loads(raw)["config_hash"])
        except (ValueError, KeyError, TypeError):
            continue
    return out


def parse_containers(text: str) -> tuple[Container, ...]:
    """Parse ``docker inspect`` JSON of compose containers."""
    data = json.loads(text or "[]")
    out = []
    for item in data:
        labels = (item.get("Config") or {}).get("Labels") or {}
        state = item.get("State") or {}
        health = (state.get("Health") or {}).get("Status")
        out.append(
            Container(
                id=str(item.get("Id", "")),
                name=str(item.get("Name", "")).lstrip("/"),
                project=str(labels.get("com.docker.compose.project", "")),
                service=str(labels.get("com.docker.compose.service", "")),
                state=str(state.get("Status", "unknown")),
                health=Health(str(health)) if health in Health._value2member_map_ else Health.NONE,
                started_at=str(state.get("StartedAt", "")),
                image=str((item.get("Config") or {}).get("Image", "")),
            )
        )
    return tuple(out)


def parse_stack_facts(results: Mapping[str, Any]) -> HostStackFacts:
    """Turn `run_batch` results (name -> CommandResult) into `HostStackFacts`."""
    containers: tuple[Container, ...] = ()
    docker_error = None
    cres = results["containers"]
    if cres.exit_code == 0:
        containers = parse_containers(cres.stdout)
    else:
        docker_error = redact_tail((cres.stderr or cres.stdout).strip(), 300) or (
            f"exit {cres.exit_code}"
        )
    return HostStackFacts(
        files=parse_files(results["files"].stdout),
        dirs=parse_dirs(results["dirs"].stdout),
        containers=containers,
        states=parse_states(results["states"].stdout),
        docker_error=docker_error,
        checks={
            k.split(":", 1)[1]: v.exit_code for k, v in results.items() if k.startswith("unless:")
        },
    )
