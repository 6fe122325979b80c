"""The rendered output of a stack for one host: files, directories, post-deploy steps."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nornir_homehub.stackspec.model import ServiceHealth

__all__ = ["PostDeployStep", "RenderedDir", "RenderedFile", "RenderedStack"]


@dataclass(frozen=True)
class RenderedFile:
    """One file to put on the host. ``content`` never appears in repr or `to_dict`."""

    path: str
    content: bytes = field(repr=False)
    mode: int
    secret: bool
    restarts: tuple[str, ...] = ()

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the content (what the deploy task compares and records)."""
        return hashlib.sha256(self.content).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict without the content."""
        return {
            "path": self.path,
            "mode": f"{self.mode:04o}",
            "secret": self.secret,
            "restarts": list(self.restarts),
            "sha256": self.sha256,
            "size": len(self.content),
        }


@dataclass(frozen=True)
class RenderedDir:
    """A directory to create on the host (absolute path)."""

    path: str
    owner: str
    group: str
    mode: int

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the mode as octal text, ``"0755"``)."""
        return dataclasses.asdict(self) | {"mode": f"{self.mode:04o}"}


@dataclass(frozen=True)
class PostDeployStep:
    """A command run on the host after ``up``; skipped when ``unless`` exits 0."""

    name: str
    service: str
    command: str
    unless: str | None
    timeout: int

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RenderedStack:
    """Everything the deploy task needs for one stack on one host.

    Attributes:
        files: absolute destination path -> file, in template.yaml order.
        project_dir: ``<stacks_root>/<name>`` (where ``docker compose`` runs).
        compose_file: absolute path of the rendered compose file.
        containers: compose service -> container name, read from the rendered compose file.
        healthchecks: compose service -> its healthcheck ``test`` from the rendered compose
            file, as Docker stores it (``("CMD", ...)`` or ``("CMD-SHELL", "...")``); only
            services whose test the health wait may run itself (`compose_healthchecks`).

    """

    name: str
    host: str
    role: str
    project: str
    project_dir: str
    compose_file: str
    files: Mapping[str, RenderedFile]
    data_dirs: tuple[RenderedDir, ...]
    services: tuple[str, ...]
    containers: Mapping[str, str]
    post_deploy: tuple[PostDeployStep, ...]
    health: tuple[ServiceHealth, ...]
    secrets: tuple[str, ...]
    zero_downtime: str = ""  # the template's mode (`stackspec.ZERO_DOWNTIME_MODES`), "" none
    healthchecks: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    @property
    def config_hash(self) -> str:
        """SHA-256 over every file's path, mode and content: changes when anything used changes."""
        h = hashlib.sha256()
        for path in sorted(self.files):
            f = self.files[path]
            h.update(f"{path}\0{f.mode:o}\0{f.sha256}\n".encode())
        return h.hexdigest()

    def restarts_for(self, changed_paths: Iterable[str]) -> tuple[str, ...]:
        """Services to restart explicitly because one of ``changed_paths`` changed."""
        out: list[str] = []
        for path in changed_paths:
            f = self.files.get(path)
            if f is not None:
                out.extend(s for s in f.restarts if s not in out)
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (file metadata and hashes, never content)."""
        return {
            "name": self.name,
            "host": self.host,
            "role": self.role,
            "project": self.project,
            "project_dir": self.project_dir,
            "compose_file": self.compose_file,
            "config_hash": self.config_hash,
            "files": [f.to_dict() for f in self.files.values()],
            "data_dirs": [d.to_dict() for d in self.data_dirs],
            "services": list(self.services),
            "containers": dict(self.containers),
            "post_deploy": [s.to_dict() for s in self.post_deploy],
            "health": [h.to_dict() for h in self.health],
            "secrets": list(self.secrets),
        }
