"""Containers on a stack host as ``verify`` sees them, and commands run inside them.

`DockerFacts` is every container (compose-managed or not) with the networks it is attached
to, read with the Docker facts unit (`facts.docker`). ``getent hosts`` and a fetch of a URL run
inside a container with ``docker exec`` (the guide's "Network Connectivity" checks) and come
back as an `ExecOutcome`. Commands and parsers only: the task runs them in its batch.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nornir_homehub.facts.docker import containers_command, parse_containers
from nornir_homehub.facts.stacks import Container, stack_containers
from nornir_homehub.secrets import redact_head

if TYPE_CHECKING:
    from nornir_homehub.connection import CommandResult

EXEC_TIMEOUT = 10


@dataclass(frozen=True)
class ExecOutcome:
    """Exit code and output of a command run inside a container with ``docker exec``."""

    command: str
    exit_code: int
    stdout: str = ""
    stderr: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (outputs cut at 300 characters)."""
        return {
            "command": self.command,
            "exit_code": self.exit_code,
            "stdout": redact_head(self.stdout, 300),
            "stderr": redact_head(self.stderr, 300),
        }


@dataclass(frozen=True)
class DockerFacts:
    """Every container on a host and the networks each is attached to.

    Attributes:
        containers: every container (compose-managed or not), as `parse_docker` reads it.
        networks: container name -> network name -> the container's address there.
        error: why Docker Engine could not be asked (None when it answered).

    """

    containers: tuple[Container, ...] = ()
    networks: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    error: str | None = None

    def by_name(self, name: str) -> Container | None:
        """Return the container named ``name``, if any."""
        return next((c for c in self.containers if c.name == name), None)

    def for_service(self, project: str, service: str) -> Container | None:
        """Return the container of compose ``project``/``service``, if any."""
        return next(
            (c for c in self.containers if c.project == project and c.service == service), None
        )


def docker_command() -> str:
    """Shell command listing every container (`facts.docker.containers_command`)."""
    return containers_command()


def getent_command(container: str, name: str) -> str:
    """``docker exec CONTAINER getent hosts NAME`` (bounded by a timeout)."""
    return (
        f"timeout {EXEC_TIMEOUT} docker exec {shlex.quote(container)} "
        f"getent hosts {shlex.quote(name)}"
    )


def fetch_command(container: str, url: str) -> str:
    """``docker exec CONTAINER curl -sS URL`` (wget when the image has no curl), bounded."""
    inner = 'if command -v curl >/dev/null 2>&1; then curl -sS "$1"; else wget -q -O - "$1"; fi'
    return (
        f"timeout {EXEC_TIMEOUT} docker exec {shlex.quote(container)} sh -c "
        f"{shlex.quote(inner)} sh {shlex.quote(url)}"
    )


def parse_docker(result: CommandResult) -> DockerFacts:
    """Turn the result of `docker_command` into `DockerFacts`.

    A container that vanished between listing and inspecting is simply not there; an error
    message never carries the inspect output (other containers' details).
    """
    docker = parse_containers(result)
    if docker.error is not None:
        return DockerFacts(error=docker.error)
    return DockerFacts(
        stack_containers(docker), {c.name: dict(c.networks) for c in docker.containers}
    )


def parse_exec(result: CommandResult | None) -> ExecOutcome | None:
    """Turn the result of `getent_command`/`fetch_command` into an `ExecOutcome` (None: none)."""
    if result is None:
        return None
    return ExecOutcome(result.command, result.exit_code, result.stdout, result.stderr)
