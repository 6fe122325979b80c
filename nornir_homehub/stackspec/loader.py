"""Reading ``<stacks dir>/<name>/template.yaml`` into a `StackSpec`.

Finds a stack in the stack folders (a site's own first, then the built-in ones) and checks the
file's schema: known keys only, types, octal modes, relative paths, services that exist. Every
error names the file, line and key.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from nornir_homehub.errors import ConfigError
from nornir_homehub.problems import did_you_mean
from nornir_homehub.stackspec.model import (
    SECRET_NAME_RE,
    ZERO_DOWNTIME_MODES,
    DataDirSpec,
    FileSpec,
    HttpProbe,
    ServiceHealth,
    StackSpec,
    StepSpec,
)
from nornir_homehub.yamlfile import YamlDoc, load_yaml

__all__ = ["TEMPLATE_FILE", "StacksPath", "available_stacks", "find_stack", "load_stack"]

TEMPLATE_FILE = "template.yaml"

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_OWNER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")

_TOP_KEYS = {
    "description",
    "zero_downtime",
    "role",
    "project",
    "services",
    "secrets",
    "secrets_from",
    "data_dirs",
    "files",
    "post_deploy",
    "health",
}


class _Spec:
    """Typed access to a parsed YAML mapping, with errors naming the file and key."""

    def __init__(
        self,
        source: Path,
        data: Mapping[str, Any],
        where: str = "",
        doc: YamlDoc | None = None,
        keys: tuple[object, ...] = (),
    ) -> None:
        self.source = source
        self.data = data
        self.where = where
        self.doc = doc
        self.keys = keys

    def err(self, key: str, problem: str) -> ConfigError:
        line = self.doc.line((*self.keys, key)) if self.doc is not None else None
        at = f"{self.source}:{line}" if line else str(self.source)
        return ConfigError(f"{at}: key '{self.where}{key}': {problem}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in self.data or self.data[key] is None:
            if default is ...:
                raise self.err(key, "is required")
            return default
        value = self.data[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, (int,))):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self.err(key, f"must be {names}, got {type(value).__name__}")
        return value

    def str_list(self, key: str) -> tuple[str, ...]:
        items = self.get(key, list, [])
        if not all(isinstance(i, str) for i in items):
            raise self.err(key, "must be a list of strings")
        return tuple(items)

    def mode(self, key: str, default: int | None = None) -> int:
        raw = self.get(key, (str, int), default if default is not None else ...)
        if isinstance(raw, int):
            # PyYAML reads an unquoted 0600 as an octal int already.
            value = raw
        else:
            try:
                value = int(raw, 8)
            except ValueError:
                raise self.err(key, f'must be an octal mode like "0600", got {raw!r}') from None
        if not 0 <= value <= 0o7777:
            raise self.err(key, f"mode {value:o} is out of range")
        return value

    def items(self, key: str) -> list[_Spec]:
        raw = self.get(key, list, [])
        out = []
        for i, item in enumerate(raw):
            where = f"{self.where}{key}[{i}]."
            if not isinstance(item, dict):
                raise self.err(f"{key}[{i}]", "must be a mapping")
            out.append(_Spec(self.source, item, where, self.doc, (*self.keys, key, i)))
        return out

    def only(self, allowed: Collection[str]) -> None:
        unknown = sorted(set(self.data) - set(allowed))
        if unknown:
            hint = did_you_mean(unknown[0], allowed)
            raise self.err(unknown[0], f"unknown key{hint} (valid: {', '.join(sorted(allowed))})")


def _relative(spec: _Spec, key: str) -> str:
    value: str = spec.get(key, str)
    p = PurePosixPath(value)
    if p.is_absolute() or ".." in p.parts or not value.strip():
        raise spec.err(key, f"must be a relative path without '..', got {value!r}")
    return str(p)


StacksPath = Path | Sequence[Path]
"""Where stacks are looked up: one folder, or several searched in order (a site's own first)."""


def _dirs(stacks: StacksPath) -> tuple[Path, ...]:
    return (stacks,) if isinstance(stacks, Path) else tuple(stacks)


def _shown(stacks: StacksPath) -> str:
    return ", ".join(str(d) for d in _dirs(stacks))


def available_stacks(stacks: StacksPath) -> list[str]:
    """Names of the stacks in ``stacks`` (folders holding a template.yaml), sorted."""
    names = set()
    for folder in _dirs(stacks):
        if folder.is_dir():
            names |= {p.parent.name for p in folder.glob(f"*/{TEMPLATE_FILE}")}
    return sorted(names)


def find_stack(stacks: StacksPath, name: str) -> Path | None:
    """The ``template.yaml`` of stack ``name``: the first folder of ``stacks`` that has it."""
    for folder in _dirs(stacks):
        source = folder / name / TEMPLATE_FILE
        if source.is_file():
            return source
    return None


def _load_data_dirs(top: _Spec) -> tuple[DataDirSpec, ...]:
    out = []
    for d in top.items("data_dirs"):
        d.only({"path", "owner", "group", "mode"})
        owner, group = d.get("owner", str, "root"), d.get("group", str, "root")
        for key, value in (("owner", owner), ("group", group)):
            if not _OWNER_RE.match(value):
                raise d.err(key, f"{value!r} is not a user/group name")
        out.append(DataDirSpec(_relative(d, "path"), owner, group, d.mode("mode", 0o755)))
    return tuple(out)


def _load_files(top: _Spec, services: tuple[str, ...]) -> tuple[FileSpec, ...]:
    out = []
    for f in top.items("files"):
        f.only({"template", "dest", "mode", "restarts", "secret"})
        template = _relative(f, "template")
        if not (top.source.parent / template).is_file():
            raise f.err("template", f"template {top.source.parent / template} does not exist")
        dest = _relative(f, "dest")
        mode = f.mode("mode", 0o644)
        if PurePosixPath(dest).name.startswith(".env") and mode != 0o600:
            raise f.err("mode", f"env file {dest} must be mode 0600, got {mode:04o}")
        restarts = f.str_list("restarts")
        for svc in restarts:
            if svc not in services:
                raise f.err("restarts", f"{svc!r} is not one of the services {list(services)}")
        out.append(FileSpec(template, dest, mode, restarts, bool(f.get("secret", bool, False))))
    if not any(PurePosixPath(f.dest).name == "compose.yaml" for f in out):
        raise top.err("files", "no file has dest compose.yaml")
    dests = [f.dest for f in out]
    if len(set(dests)) != len(dests):
        raise top.err("files", "two files have the same dest")
    return tuple(out)


def _load_steps(top: _Spec, services: tuple[str, ...]) -> tuple[StepSpec, ...]:
    out = []
    for st in top.items("post_deploy"):
        st.only({"name", "service", "command", "unless", "loop", "timeout"})
        svc = st.get("service", str)
        if svc not in services:
            raise st.err("service", f"{svc!r} is not one of the services {list(services)}")
        out.append(
            StepSpec(
                name=st.get("name", str),
                service=svc,
                command=st.get("command", str),
                unless=st.get("unless", str, None),
                loop=st.get("loop", str, None),
                timeout=st.get("timeout", int, 600),
            )
        )
    return tuple(out)


def _load_probe(p: _Spec, secrets: tuple[str, ...]) -> HttpProbe:
    p.only(set(HttpProbe.__dataclass_fields__))
    auth_secret = p.get("auth_secret", str, None)
    if auth_secret is not None and auth_secret not in secrets:
        raise p.err("auth_secret", f"{auth_secret!r} is not in the stack's secrets")
    path = p.get("path", str)
    if not path.startswith("/"):
        raise p.err("path", f"must start with '/', got {path!r}")
    return HttpProbe(
        name=p.get("name", str),
        port=p.get("port", int),
        path=path,
        status=p.get("status", int, 200),
        body_contains=p.get("body_contains", str, None),
        published=p.get("published", bool, False),
        auth_header=p.get("auth_header", str, None),
        auth_prefix=p.get("auth_prefix", str, ""),
        auth_secret=auth_secret,
    )


def _load_health(
    top: _Spec, services: tuple[str, ...], secrets: tuple[str, ...]
) -> tuple[ServiceHealth, ...]:
    out = []
    for h in top.items("health"):
        h.only({"service", "container", "healthcheck", "http"})
        svc = h.get("service", str)
        if svc not in services:
            raise h.err("service", f"{svc!r} is not one of the services {list(services)}")
        probes = tuple(_load_probe(p, secrets) for p in h.items("http"))
        out.append(
            ServiceHealth(svc, h.get("container", str, svc), h.get("healthcheck", bool), probes)
        )
    return tuple(out)


def load_stack(stacks: StacksPath, name: str) -> StackSpec:
    """Parse and validate ``<folder>/name/template.yaml``, from the first folder that has it.

    Raises:
        ConfigError: the stack does not exist (the message lists the valid ones), the file is
            not YAML, or a key is missing, unknown or invalid (the message names file and key).

    """
    source = find_stack(stacks, name)
    if source is None:
        valid = ", ".join(available_stacks(stacks)) or "(none)"
        raise ConfigError(f"unknown stack {name!r} in {_shown(stacks)}; valid stacks: {valid}")
    # Parsed once per file version: a run renders each host's stacks (twice with the secrets
    # pre-flight), and parsing template.yaml per host cost ~1 s of CPU at 200 hosts.
    st = source.stat()
    key = (source, name, st.st_mtime_ns, st.st_size)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
    if cached is None:
        cached = _load_stack_file(source, name)
        with _CACHE_LOCK:
            _CACHE[key] = cached
    return cached


_CACHE: dict[tuple[Path, str, int, int], StackSpec] = {}
_CACHE_LOCK = threading.Lock()


def _load_stack_file(source: Path, name: str) -> StackSpec:
    """Parse and validate one stack's template.yaml (`load_stack` without its cache)."""
    doc = load_yaml(source, what="stack metadata")
    raw = doc.data
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: must be a mapping of keys (description, role, ...)")
    top = _Spec(source, raw, doc=doc)
    top.only(_TOP_KEYS)
    project = top.get("project", str, name)
    if not _NAME_RE.match(project):
        raise top.err("project", f"{project!r} is not a valid compose project name")
    services = top.str_list("services")
    if not services:
        raise top.err("services", "must list at least one compose service")
    zero_downtime = top.data.get("zero_downtime") or ""
    if zero_downtime not in ("", *ZERO_DOWNTIME_MODES):
        raise top.err(
            "zero_downtime",
            f"{zero_downtime!r} is not a mode (valid: {', '.join(ZERO_DOWNTIME_MODES)})",
        )
    secrets = top.str_list("secrets")
    for secret in secrets:
        if not SECRET_NAME_RE.match(secret):
            raise top.err("secrets", f"{secret!r} is not a secret name (vault_<name>)")
    return StackSpec(
        name=name,
        directory=source.parent,
        role=top.get("role", str),
        project=project,
        description=top.get("description", str, ""),
        services=services,
        secrets=secrets,
        data_dirs=_load_data_dirs(top),
        files=_load_files(top, services),
        post_deploy=_load_steps(top, services),
        health=_load_health(top, services, secrets),
        secrets_from=_load_secrets_from(top),
        zero_downtime=zero_downtime,
    )


def _load_secrets_from(top: _Spec) -> tuple[tuple[str, str], ...]:
    out = []
    for item in top.items("secrets_from"):
        item.only({"var", "key"})
        out.append((item.get("var", str), item.get("key", str)))
    return tuple(out)
