"""The stack spec types: what a stack's ``template.yaml`` declares, parsed and validated.

`StackSpec` is one stack (its services, secrets, data dirs, files, post-deploy steps and health
checks); `host_secret_names` adds the secrets its ``secrets_from`` lists name in a host's data.
Pure: `nornir_homehub.stackspec.loader` builds these from the YAML.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nornir_homehub.errors import ConfigError

__all__ = [
    "DataDirSpec",
    "FileSpec",
    "HttpProbe",
    "ServiceHealth",
    "StackSpec",
    "StepSpec",
    "host_secret_names",
    "secret_names",
]

SECRET_NAME_RE = re.compile(r"^vault_[A-Za-z0-9_]+$")

# template.yaml ``zero_downtime``: "always" (a twin serves during every recreate), "config" (a
# twin only when the image is unchanged: a new image may migrate the data it shares).
ZERO_DOWNTIME_MODES = ("always", "config")


@dataclass(frozen=True)
class DataDirSpec:
    """A data directory under the host's ``data_root`` (e.g. ``ollama/data``)."""

    path: str
    owner: str = "root"
    group: str = "root"
    mode: int = 0o755

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the mode as octal text, ``"0755"``)."""
        return dataclasses.asdict(self) | {"mode": f"{self.mode:04o}"}


@dataclass(frozen=True)
class FileSpec:
    """A templated file: ``template`` (in the stack folder) -> ``dest`` (under the project dir).

    Attributes:
        restarts: compose services to restart when this file changes (bind-mounted files whose
            content Compose cannot see).
        secret: declared secret (a file is also secret when its content holds a secret value).

    """

    template: str
    dest: str
    mode: int
    restarts: tuple[str, ...] = ()
    secret: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the mode as octal text)."""
        return dataclasses.asdict(self) | {
            "mode": f"{self.mode:04o}",
            "restarts": list(self.restarts),
        }


@dataclass(frozen=True)
class HttpProbe:
    """An HTTP request that must answer for a service to count as healthy.

    Attributes:
        name: short identifier (``readyz``, ``models``).
        port: container port (equal to the host port when ``published``).
        path: request path.
        status: expected HTTP status.
        body_contains: a string the response body must contain (None: not checked).
        published: the port is published on the host (probe from the host); otherwise probe
            from inside the container (``docker exec``) or through Traefik.
        auth_header: request header carrying a secret (``api-key``, ``Authorization``).
        auth_prefix: text before the secret in that header (``Bearer ``).
        auth_secret: name of the secret variable whose value goes in the header.

    """

    name: str
    port: int
    path: str
    status: int = 200
    body_contains: str | None = None
    published: bool = False
    auth_header: str | None = None
    auth_prefix: str = ""
    auth_secret: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the secret's name only, never its value)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ServiceHealth:
    """What "running and healthy" means for one compose service.

    The container ``container`` is running; when ``healthcheck`` its Docker health status is
    ``healthy``; every probe in ``http`` answers as expected.
    """

    service: str
    container: str
    healthcheck: bool
    http: tuple[HttpProbe, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return dataclasses.asdict(self) | {"http": [p.to_dict() for p in self.http]}


@dataclass(frozen=True)
class StepSpec:
    """A post-deploy step; ``command``/``unless``/``name`` are Jinja templates.

    With ``loop`` (a variable holding a list) the step is rendered once per item (``item``).
    """

    name: str
    service: str
    command: str
    unless: str | None = None
    loop: str | None = None
    timeout: int = 600


@dataclass(frozen=True)
class StackSpec:
    """A stack's parsed and validated ``template.yaml``."""

    name: str
    directory: Path
    role: str
    project: str
    description: str
    services: tuple[str, ...]
    secrets: tuple[str, ...]
    data_dirs: tuple[DataDirSpec, ...]
    files: tuple[FileSpec, ...]
    post_deploy: tuple[StepSpec, ...]
    health: tuple[ServiceHealth, ...]
    # (inventory variable, key): each item of that list names one more secret in that key
    # (``litellm_external_models`` -> ``api_key_secret``); required only when listed.
    secrets_from: tuple[tuple[str, str], ...] = ()
    # How a routed service is updated: "" stop-first (Compose's recreate), "always" a twin
    # takes the traffic during the recreate, "config" a twin only when the image is unchanged.
    zero_downtime: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "name": self.name,
            "directory": str(self.directory),
            "role": self.role,
            "project": self.project,
            "description": self.description,
            "services": list(self.services),
            "secrets": list(self.secrets),
            "secrets_from": [{"var": v, "key": k} for v, k in self.secrets_from],
            "data_dirs": [d.to_dict() for d in self.data_dirs],
            "files": [f.to_dict() for f in self.files],
            "post_deploy": [s.name for s in self.post_deploy],
            "health": [h.to_dict() for h in self.health],
            "zero_downtime": self.zero_downtime,
        }


def host_secret_names(spec: StackSpec, host_vars: Mapping[str, Any]) -> tuple[str, ...]:
    """The stack's secrets plus those its ``secrets_from`` lists name in ``host_vars``.

    Raises:
        ConfigError: the variable is not a list of mappings, or an item's key is missing or
            not a secret name (vault_<name>).
    """
    host = host_vars.get("inventory_hostname", "?")
    names = list(spec.secrets)
    for var, key in spec.secrets_from:
        items = host_vars.get(var) or []
        if not isinstance(items, list | tuple):
            raise ConfigError(f"host {host}: '{var}' must be a list (stack {spec.name})")
        for i, item in enumerate(items):
            name = item.get(key) if isinstance(item, Mapping) else None
            if not isinstance(name, str) or not SECRET_NAME_RE.match(name):
                raise ConfigError(
                    f"host {host}: {var}[{i}].{key} must name a secret (vault_<name>), "
                    f"got {name!r} (stack {spec.name})"
                )
            if name not in names:
                names.append(name)
    return tuple(names)


def secret_names(specs: Iterable[StackSpec]) -> set[str]:
    """Every secret variable the given stacks need."""
    return {s for spec in specs for s in spec.secrets}
