"""Facts about the guide's old monolithic stacks (``/opt/stacks/ai``, ``/opt/stacks/ai-compute``).

One round trip per host (`legacy_fact_commands` + `HostConnection.run_batch`): which old
directories exist, which compose files they hold and whether they hold anything at all, every
container with its compose project, working directory and bind mounts (the shared Docker fact,
`facts.docker`), and the data directories under ``data_root`` with their file counts (to show,
before and after, that the migration left the data alone). Bind mounts inside an old dir are
then told apart (directory = data, file = configuration) by `dir_mounts_command`, a second
round trip run only when there are any. Parsed by pure ``parse_*`` functions.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nornir_homehub.facts.docker import (
    DockerContainers,
    MountFact,
    containers_command,
    parse_containers,
)
from nornir_homehub.records import as_dict, project

# The file names `docker compose` looks for in a project directory, in its order of preference.
COMPOSE_FILE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")


@dataclass(frozen=True)
class LegacyDir:
    """An old stack directory on the host (``exists`` False when it is gone)."""

    path: str
    exists: bool
    compose_files: tuple[str, ...] = ()
    empty: bool = False  # exists and holds no entry at all

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return as_dict(self)


# A container mount (a bind mount's host path or a named volume): the Docker fact's own type.
Mount = MountFact


@dataclass(frozen=True)
class LegacyContainer:
    """A container as ``docker inspect`` shows it, with what the migration needs to know."""

    name: str
    project: str
    working_dir: str
    state: str
    mounts: tuple[Mount, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return as_dict(self)


@dataclass(frozen=True)
class LegacyFacts:
    """Everything the migration planner needs to know about one host."""

    dirs: tuple[LegacyDir, ...]
    containers: tuple[LegacyContainer, ...]
    data: Mapping[str, int]  # data dir (two levels under data_root) -> number of files
    dir_mounts: frozenset[str] = frozenset()  # bind-mount sources inside old dirs that are dirs
    docker_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "dirs": [d.to_dict() for d in self.dirs],
            "containers": [c.to_dict() for c in self.containers],
            "data": dict(self.data),
            "dir_mounts": sorted(self.dir_mounts),
            "docker_error": self.docker_error,
        }


def legacy_fact_commands(old_dirs: Iterable[str], data_root: str) -> dict[str, str]:
    """Shell commands for `HostConnection.run_batch`; parse with `parse_legacy_facts`."""
    names = " ".join(COMPOSE_FILE_NAMES)
    old = list(old_dirs)
    dirs = " ".join(shlex.quote(d) for d in old)
    root = shlex.quote(data_root.rstrip("/") or "/")
    return {
        "dirs": (
            f'for d in {dirs}; do if [ -d "$d" ]; then printf \'DIR %s\\n\' "$d"; '
            '[ -z "$(ls -A "$d" 2>/dev/null)" ] && printf \'EMPTY %s\\n\' "$d"; '
            f'for f in {names}; do [ -f "$d/$f" ] && printf \'FILE %s %s\\n\' "$d" "$f"; done; '
            "else printf 'MISSING %s\\n' \"$d\"; fi; done; true"
        ),
        "containers": containers_command(),
        "data": (
            f"[ -d {root} ] || exit 0; "
            f'for d in {root}/*/*/; do [ -d "$d" ] || continue; '
            'printf \'%s %s\\n\' "$(find "$d" -type f | wc -l)" "${d%/}"; done'
        ),
    }


def dir_mounts_command(paths: Sequence[str]) -> str:
    """Print those of ``paths`` (bind-mount sources) that are directories on the host.

    A bind mount whose source is a directory inside an old dir holds data that removing the
    dir would destroy; a mounted file there is configuration the new stacks replace.
    """
    quoted = " ".join(shlex.quote(p) for p in paths) or "''"
    return f'for p in {quoted}; do [ -d "$p" ] && printf \'%s\\n\' "$p"; done; true'


def parse_dirs(text: str) -> tuple[LegacyDir, ...]:
    """Parse the ``dirs`` fact: ``DIR``, ``EMPTY``, ``FILE path name`` and ``MISSING`` lines."""
    found: dict[str, list[str]] = {}
    order: list[str] = []
    missing: set[str] = set()
    empty: set[str] = set()
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "DIR":
            found.setdefault(rest, [])
            order.append(rest)
        elif kind == "EMPTY":
            empty.add(rest)
        elif kind == "FILE":
            path, _, name = rest.rpartition(" ")
            found.setdefault(path, []).append(name)
        elif kind == "MISSING":
            missing.add(rest)
            order.append(rest)
    return tuple(
        LegacyDir(p, False)
        if p in missing
        else LegacyDir(p, True, tuple(found.get(p, [])), empty=p in empty)
        for p in order
    )


def legacy_containers(docker: DockerContainers) -> tuple[LegacyContainer, ...]:
    """The containers of the shared Docker fact, with what the migration reads."""
    return tuple(project(LegacyContainer, c) for c in docker.containers)


def mounts_inside(containers: Iterable[LegacyContainer], dirs: Iterable[str]) -> list[str]:
    """Bind-mount sources of ``containers`` that lie inside one of ``dirs`` (sorted, unique)."""
    roots = [d.rstrip("/") for d in dirs]
    return sorted(
        {
            m.source
            for c in containers
            for m in c.mounts
            if m.kind == "bind" and any(m.source.startswith(r + "/") for r in roots)
        }
    )


def parse_data(text: str) -> dict[str, int]:
    """Parse the ``data`` fact: ``count path`` lines -> path -> number of files."""
    out = {}
    for line in text.splitlines():
        count, _, path = line.partition(" ")
        if count.isdigit() and path:
            out[path] = int(count)
    return out


def parse_legacy_facts(results: Mapping[str, Any]) -> LegacyFacts:
    """Turn `run_batch` results (name -> CommandResult) into `LegacyFacts`.

    ``dir_mounts`` (the result of `dir_mounts_command`) is optional.
    """
    docker = parse_containers(results["containers"])
    mounts = results.get("dir_mounts")
    return LegacyFacts(
        dirs=parse_dirs(results["dirs"].stdout),
        containers=legacy_containers(docker),
        data=parse_data(results["data"].stdout),
        dir_mounts=frozenset(ln for ln in (mounts.stdout if mounts else "").splitlines() if ln),
        docker_error=docker.error,
    )
