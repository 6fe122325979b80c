"""Stack facts: remote file hashes and modes, data dirs, compose containers, deploy state.

All gathered in one round trip per host (`stack_fact_commands` + `HostConnection.run_batch`),
parsed by pure ``parse_*`` functions. File *content* is never read here: only hashes. The
containers come from the one shared Docker fact (`facts.docker`).

The state record (``<project dir>/.homehub-state.json``) is written by the deploy only after a
stack's compose run, health wait and post-deploy steps all succeeded. It keeps the hash of
every file that deploy used, so a later run can tell a file that is on the host but was never
applied (a run that died between upload and compose) from one that was.
"""

from __future__ import annotations

import enum
import json
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from nornir_homehub.defaults import STACK_STATE_FILE as STATE_FILE
from nornir_homehub.facts.docker import DockerContainers, containers_command, parse_containers
from nornir_homehub.records import project

if TYPE_CHECKING:
    from nornir_homehub.render import RenderedStack

STATE_VERSION = 2


@dataclass(frozen=True)
class RemotePath:
    """What is on the host at a path (``exists`` False when missing): mode and ownership."""

    path: str
    exists: bool
    mode: int | None = None
    owner: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class RemoteFile(RemotePath):
    """A file on the host, with its content's hash."""

    sha256: str | None = None


@dataclass(frozen=True)
class RemoteDir(RemotePath):
    """A data directory on the host."""


P = TypeVar("P", bound=RemotePath)


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
    restart_count: int = 0
    exit_code: int = 0

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
            "restart_count": self.restart_count,
        }


@dataclass(frozen=True)
class StackState:
    """The state record of a stack's last completed deploy.

    Attributes:
        config_hash: `RenderedStack.config_hash` of that deploy.
        files: file path -> sha256 of the content that deploy applied; None for a record
            written by an older version (a config hash only).
    """

    config_hash: str
    files: Mapping[str, str] | None = None

    @property
    def legacy(self) -> bool:
        """True for a record without per-file hashes (written by an older version)."""
        return self.files is None


def render_state(stack_name: str, config_hash: str, files: Mapping[str, str]) -> bytes:
    """The bytes of a state record (one JSON line; `parse_states` reads it back)."""
    return json.dumps(
        {
            "version": STATE_VERSION,
            "stack": stack_name,
            "config_hash": config_hash,
            "files": dict(sorted(files.items())),
        },
        separators=(",", ":"),
    ).encode()


@dataclass(frozen=True)
class HostStackFacts:
    """Everything the stack planner needs to know about one host."""

    files: Mapping[str, RemoteFile]
    dirs: Mapping[str, RemoteDir]
    containers: tuple[Container, ...]
    states: Mapping[str, StackState]  # project dir -> the last completed deploy
    docker_error: str | None = None
    checks: Mapping[str, int] = field(default_factory=dict)  # post-deploy `unless` exit codes

    def project_containers(self, project: str) -> list[Container]:
        """Containers of one compose project."""
        return [c for c in self.containers if c.project == project]


def _q(paths: Iterable[str]) -> str:
    return " ".join(shlex.quote(p) for p in paths)


# stat's "path mode owner group" lines, an empty line, sha256sum's "hash  path" lines ->
# "path mode owner group hash", in stat's order (a file sha256sum could not read: no hash).
_PAIR_HASHES = (
    "NF == 0 { s = 1; next } "
    '!s { m[$1] = $2 " " $3 " " $4; o[++n] = $1; next } '
    "{ h[$2] = $1 } "
    "END { for (i = 1; i <= n; i++) print o[i], m[o[i]], h[o[i]] }"
)


def _existing(test: str, paths: Iterable[str]) -> str:
    """Shell: ``paths`` that pass ``test`` become "$@"; a ``path MISSING`` line for the rest."""
    return (
        f'set --; for p in {_q(paths)}; do if [ {test} "$p" ]; then set -- "$@" "$p"; '
        "else printf '%s MISSING\\n' \"$p\"; fi; done"
    )


def stack_fact_commands(
    files: Iterable[str],
    dirs: Iterable[str],
    project_dirs: Iterable[str],
    unless: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Shell commands for `HostConnection.run_batch`; parse with `parse_stack_facts`."""
    # One stat and one sha256sum for all the files, not one of each (and a cut) per file:
    # what a host forks for the facts is what a deploy's first round trip waits for.
    cmds = {
        "files": (
            f"{_existing('-f', files)}\n"
            '[ $# -eq 0 ] || { stat -c \'%n %a %U %G\' -- "$@"; echo; sha256sum -- "$@"; } '
            f"| awk {shlex.quote(_PAIR_HASHES)}"
        ),
        "dirs": f"{_existing('-d', dirs)}\n[ $# -eq 0 ] || stat -c '%n %a %U %G' -- \"$@\"",
        "states": (
            f'for d in {_q(project_dirs)}; do if [ -f "$d/{STATE_FILE}" ]; then '
            "printf '%s ' \"$d\"; "
            'while IFS= read -r l || [ -n "$l" ]; do printf \'%s\' "$l"; done '
            f'< "$d/{STATE_FILE}"; echo; fi; done'
        ),
        "containers": containers_command(),
    }
    for key, command in (unless or {}).items():
        cmds[f"unless:{key}"] = command
    return cmds


def stack_fact_batch(stacks: Iterable[RenderedStack]) -> dict[str, str]:
    """The fact batch of ``stacks`` (`stack_fact_commands` for what they hold).

    Their files, data dirs and state records, the containers, and each post-deploy step's
    ``unless`` check under ``<stack>:<step index>``.
    """
    stacks = list(stacks)
    return stack_fact_commands(
        [p for s in stacks for p in s.files],
        [d.path for s in stacks for d in s.data_dirs],
        [s.project_dir for s in stacks],
        {
            f"{s.name}:{i}": step.unless
            for s in stacks
            for i, step in enumerate(s.post_deploy)
            if step.unless
        },
    )


def _parse_paths(text: str, kind: type[P], words: int) -> dict[str, P]:
    """``path MISSING`` lines, and ``path mode owner group ...`` lines of ``words`` words."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] == "MISSING":
            out[parts[0]] = kind(parts[0], exists=False)
        elif len(parts) == words:
            out[parts[0]] = kind(parts[0], True, int(parts[1], 8), *parts[2:])
    return out


def parse_files(text: str) -> dict[str, RemoteFile]:
    """Parse the ``files`` fact: ``path mode owner group sha256`` or ``path MISSING`` lines."""
    return _parse_paths(text, RemoteFile, 5)


def parse_dirs(text: str) -> dict[str, RemoteDir]:
    """Parse the ``dirs`` fact: ``path mode owner group`` or ``path MISSING`` lines."""
    return _parse_paths(text, RemoteDir, 4)


def parse_states(text: str) -> dict[str, StackState]:
    """Parse the ``states`` fact: project dir -> `StackState` (both record formats)."""
    out = {}
    for line in text.splitlines():
        path, _, raw = line.partition(" ")
        try:
            data = json.loads(raw)
            files = data.get("files")
            out[path] = StackState(
                str(data["config_hash"]),
                {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else None,
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return out


def _health(value: str | None) -> Health:
    return Health(value) if value and value in Health._value2member_map_ else Health.NONE


def stack_containers(docker: DockerContainers) -> tuple[Container, ...]:
    """The containers of the shared Docker fact, as the stack planner reads them."""
    return tuple(project(Container, c, health=_health(c.health)) for c in docker.containers)


def parse_stack_facts(results: Mapping[str, Any]) -> HostStackFacts:
    """Turn `run_batch` results (name -> CommandResult) into `HostStackFacts`."""
    docker = parse_containers(results["containers"])
    return HostStackFacts(
        files=parse_files(results["files"].stdout),
        dirs=parse_dirs(results["dirs"].stdout),
        containers=stack_containers(docker),
        states=parse_states(results["states"].stdout),
        docker_error=docker.error,
        checks={
            k.split(":", 1)[1]: v.exit_code for k, v in results.items() if k.startswith("unless:")
        },
    )
