"""Facts about the guide's old monolithic stacks (``/opt/stacks/ai``, ``/opt/stacks/ai-compute``).

One round trip per host (`legacy_fact_commands` + `HostConnection.run_batch`): which old
directories exist and which compose files they hold, every container with its compose project,
working directory and bind mounts, and the data directories under ``data_root`` with their file
counts (to show, before and after, that the migration left the data alone). Parsed by pure
``parse_*`` functions.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from nornir_homehub.secrets import redact_tail

# The file names `docker compose` looks for in a project directory, in its order of preference.
COMPOSE_FILE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
_WORKING_DIR_LABEL = "com.docker.compose.project.working_dir"


@dataclass(frozen=True)
class LegacyDir:
    """An old stack directory on the host (``exists`` False when it is gone)."""

    path: str
    exists: bool
    compose_files: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"path": self.path, "exists": self.exists, "compose_files": list(self.compose_files)}


@dataclass(frozen=True)
class Mount:
    """A container mount: a bind mount's host path or a named volume."""

    kind: str  # "bind", "volume", "tmpfs", ...
    source: str  # host path (bind) or volume name (volume)
    destination: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"kind": self.kind, "source": self.source, "destination": self.destination}


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
        return {
            "name": self.name,
            "project": self.project,
            "working_dir": self.working_dir,
            "state": self.state,
            "mounts": [m.to_dict() for m in self.mounts],
        }


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
    inside = "|".join(shlex.quote(d.rstrip("/")) + "/*" for d in old) or "''"
    mount_fmt = shlex.quote('{{range .Mounts}}{{if eq .Type "bind"}}{{.Source}}\n{{end}}{{end}}')
    root = shlex.quote(data_root.rstrip("/") or "/")
    return {
        "dirs": (
            f'for d in {dirs}; do if [ -d "$d" ]; then printf \'DIR %s\\n\' "$d"; '
            f'for f in {names}; do [ -f "$d/$f" ] && printf \'FILE %s %s\\n\' "$d" "$f"; done; '
            "else printf 'MISSING %s\\n' \"$d\"; fi; done; true"
        ),
        "containers": (
            "ids=$(docker ps -aq) || exit 90; "
            "if [ -z \"$ids\" ]; then echo '[]'; else docker inspect $ids; fi"
        ),
        # A bind mount whose source is a directory inside an old dir holds data that removing
        # the dir would destroy; a mounted file there is configuration the new stacks replace.
        "dir_mounts": (
            'ids=$(docker ps -aq) || exit 90; [ -z "$ids" ] && exit 0; '
            f"docker inspect --format {mount_fmt} $ids | sort -u | while IFS= read -r p; do "
            f'case "$p" in {inside}) [ -d "$p" ] && printf \'%s\\n\' "$p";; esac; done; true'
        ),
        "data": (
            f"[ -d {root} ] || exit 0; "
            f'for d in {root}/*/*/; do [ -d "$d" ] || continue; '
            'printf \'%s %s\\n\' "$(find "$d" -type f | wc -l)" "${d%/}"; done'
        ),
    }


def parse_dirs(text: str) -> tuple[LegacyDir, ...]:
    """Parse the ``dirs`` fact: ``DIR path``, ``FILE path name`` and ``MISSING path`` lines."""
    found: dict[str, list[str]] = {}
    order: list[str] = []
    missing: set[str] = set()
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "DIR":
            found.setdefault(rest, [])
            order.append(rest)
        elif kind == "FILE":
            path, _, name = rest.rpartition(" ")
            found.setdefault(path, []).append(name)
        elif kind == "MISSING":
            missing.add(rest)
            order.append(rest)
    return tuple(
        LegacyDir(p, False) if p in missing else LegacyDir(p, True, tuple(found.get(p, [])))
        for p in order
    )


def parse_containers(text: str) -> tuple[LegacyContainer, ...]:
    """Parse ``docker inspect`` JSON: name, compose project and working dir, state, mounts."""
    out = []
    for item in json.loads(text or "[]"):
        labels = (item.get("Config") or {}).get("Labels") or {}
        mounts = tuple(
            Mount(
                kind=str(m.get("Type", "")),
                source=str(m.get("Source", "") if m.get("Type") == "bind" else m.get("Name", "")),
                destination=str(m.get("Destination", "")),
            )
            for m in item.get("Mounts") or []
        )
        out.append(
            LegacyContainer(
                name=str(item.get("Name", "")).lstrip("/"),
                project=str(labels.get("com.docker.compose.project", "")),
                working_dir=str(labels.get(_WORKING_DIR_LABEL, "")),
                state=str((item.get("State") or {}).get("Status", "unknown")),
                mounts=mounts,
            )
        )
    return tuple(out)


def parse_data(text: str) -> dict[str, int]:
    """Parse the ``data`` fact: ``count path`` lines -> path -> number of files."""
    out = {}
    for line in text.splitlines():
        count, _, path = line.partition(" ")
        if count.isdigit() and path:
            out[path] = int(count)
    return out


def parse_legacy_facts(results: Mapping[str, Any]) -> LegacyFacts:
    """Turn `run_batch` results (name -> CommandResult) into `LegacyFacts`."""
    cres = results["containers"]
    containers: tuple[LegacyContainer, ...] = ()
    docker_error = None
    if cres.exit_code == 0:
        containers = parse_containers(cres.stdout)
    else:
        docker_error = redact_tail((cres.stderr or cres.stdout).strip(), 300) or (
            f"exit {cres.exit_code}"
        )
    return LegacyFacts(
        dirs=parse_dirs(results["dirs"].stdout),
        containers=containers,
        data=parse_data(results["data"].stdout),
        dir_mounts=frozenset(ln for ln in results["dir_mounts"].stdout.splitlines() if ln),
        docker_error=docker_error,
    )
