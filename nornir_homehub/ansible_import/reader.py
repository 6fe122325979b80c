"""Reading an Ansible inventory: YAML or INI, with its group_vars and host_vars.

`read_inventory` returns an `AnsibleInventory`: the groups (``all`` included) with their vars,
children and hosts, each host's own vars, and the whole-file vaults it found (referenced,
never decrypted). Inline ``!vault`` values stay ciphertext (`InlineVault`). Reads files only.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nornir_homehub.errors import ConfigError
from nornir_homehub.secrets.vault import AnsibleYamlLoader, InlineVault

__all__ = ["AnsibleInventory", "Group", "InlineVault", "read_inventory"]

_VAULT_HEADER = "$ANSIBLE_VAULT"
_VARS_SUFFIXES = ("", ".yml", ".yaml", ".json")
_RANGE_RE = re.compile(r"\[(\d+):(\d+)\]")


@dataclass
class Group:
    """An Ansible group: its own vars, child groups and member hosts."""

    name: str
    vars: dict[str, Any] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)


@dataclass
class AnsibleInventory:
    """What was read: groups (``all`` included), host vars, whole-file vaults, notes."""

    groups: dict[str, Group] = field(default_factory=lambda: {"all": Group("all")})
    host_vars: dict[str, dict[str, Any]] = field(default_factory=dict)
    vault_files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def group(self, name: str) -> Group:
        """The group ``name``, created when new."""
        return self.groups.setdefault(name, Group(name))

    def add_host(self, group: str, host: str, variables: Mapping[str, Any] | None = None) -> None:
        """Put ``host`` in ``group``, merging its inventory-file variables."""
        g = self.group(group)
        if host not in g.hosts:
            g.hosts.append(host)
        self.host_vars.setdefault(host, {}).update(variables or {})

    def groups_of(self, host: str) -> list[str]:
        """Every group ``host`` is in, parents included, ordered like Ansible: shallow first."""
        parents: dict[str, set[str]] = {}
        for g in self.groups.values():
            for child in g.children:
                parents.setdefault(child, set()).add(g.name)
        depth: dict[str, int] = {}
        todo = [(g.name, 1) for g in self.groups.values() if host in g.hosts]
        while todo:
            name, d = todo.pop()
            if depth.get(name, -1) >= d:
                continue
            depth[name] = d
            todo += [(p, d - 1) for p in parents.get(name, ())]
        depth.pop("all", None)
        lowest = min(depth.values(), default=0)
        return sorted(depth, key=lambda n: (depth[n] - lowest, n))

    def merged_vars(self, host: str) -> dict[str, Any]:
        """The host's variables after Ansible's precedence: all < groups (shallow first) < host."""
        out = dict(self.groups["all"].vars)
        for name in self.groups_of(host):
            out.update(self.groups[name].vars)
        out.update(self.host_vars.get(host, {}))
        return out


def _expand(pattern: str) -> list[str]:
    m = _RANGE_RE.search(pattern)
    if not m:
        return [pattern]
    lo, hi = m.group(1), m.group(2)
    width = len(lo) if lo.startswith("0") else 0
    return [
        name
        for i in range(int(lo), int(hi) + 1)
        for name in _expand(pattern[: m.start()] + str(i).zfill(width) + pattern[m.end() :])
    ]


def _ini_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    try:
        return yaml.load(text, Loader=AnsibleYamlLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path} is not valid YAML{where}") from None


def _parse_yaml_groups(inv: AnsibleInventory, name: str, body: Any, source: Path) -> None:
    if body is None:
        inv.group(name)
        return
    if not isinstance(body, dict):
        raise ConfigError(f"{source}: group {name!r} must be a mapping")
    g = inv.group(name)
    g.vars.update(body.get("vars") or {})
    for host, hvars in (body.get("hosts") or {}).items():
        for h in _expand(str(host)):
            inv.add_host(name, h, hvars or {})
    for child, cbody in (body.get("children") or {}).items():
        if str(child) not in g.children:
            g.children.append(str(child))
        _parse_yaml_groups(inv, str(child), cbody, source)


def _parse_ini(inv: AnsibleInventory, text: str, source: Path) -> None:
    section, kind = "ungrouped", "hosts"
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith(("#", ";")) else ""
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            section, _, kind = line[1:-1].partition(":")
            kind = kind or "hosts"
            if kind not in ("hosts", "vars", "children"):
                raise ConfigError(f"{source}:{number}: unknown section kind {kind!r}")
            inv.group(section)
            continue
        if kind == "children":
            if line not in inv.group(section).children:
                inv.group(section).children.append(line)
            inv.group(line)
        elif kind == "vars":
            key, sep, value = line.partition("=")
            if not sep:
                raise ConfigError(f"{source}:{number}: expected KEY=VALUE in [{section}:vars]")
            inv.group(section).vars[key.strip()] = _ini_value(value.strip())
        else:
            parts = line.split()
            hvars = {}
            for item in parts[1:]:
                key, sep, value = item.partition("=")
                if not sep:
                    raise ConfigError(f"{source}:{number}: expected KEY=VALUE, got {item!r}")
                hvars[key] = _ini_value(value)
            for h in _expand(parts[0]):
                inv.add_host(section, h, hvars)


def _vars_files(base: Path, name: str) -> list[Path]:
    """``group_vars/NAME`` as a file (any Ansible suffix) or a folder of files, sorted."""
    found: list[Path] = []
    for suffix in _VARS_SUFFIXES:
        p = base / f"{name}{suffix}"
        if p.is_file():
            found.append(p)
    folder = base / name
    if folder.is_dir():
        found += sorted(
            p
            for p in folder.rglob("*")
            if p.is_file() and p.suffix in (".yml", ".yaml", ".json", "")
        )
    return found


def _load_vars(inv: AnsibleInventory, path: Path) -> dict[str, Any]:
    head = path.read_bytes()[: len(_VAULT_HEADER)]
    if head == _VAULT_HEADER.encode():
        # A whole-file vault: referenced by the new site, never decrypted to be copied.
        inv.vault_files.append(path.resolve())
        return {}
    data = json.loads(path.read_text()) if path.suffix == ".json" else _read_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a vars file must hold a mapping")
    return data


def _inventory_file(path: Path) -> Path:
    """The inventory file itself: ``path``, or the hosts file inside the folder ``path``."""
    if path.is_file():
        return path
    if not path.is_dir():
        raise ConfigError(f"Ansible inventory {path} not found")
    for name in ("hosts", "hosts.yml", "hosts.yaml", "hosts.ini"):
        if (path / name).is_file():
            return path / name
    raise ConfigError(f"{path}: no hosts, hosts.yml, hosts.yaml or hosts.ini inside")


def _parse_inventory_file(inv: AnsibleInventory, inv_file: Path) -> None:
    text = inv_file.read_text()
    doc: Any = None
    if inv_file.suffix in (".yml", ".yaml", ".json") or not text.lstrip().startswith("["):
        try:
            doc = yaml.load(text, Loader=AnsibleYamlLoader)  # noqa: S506 - SafeLoader subclass
        except yaml.YAMLError as exc:
            if inv_file.suffix in (".yml", ".yaml", ".json"):
                mark = getattr(exc, "problem_mark", None)
                where = f" at line {mark.line + 1}" if mark else ""
                raise ConfigError(f"{inv_file} is not valid YAML{where}") from None
    if isinstance(doc, dict):
        for name, body in doc.items():
            _parse_yaml_groups(inv, str(name), body, inv_file)
    else:
        _parse_ini(inv, text, inv_file)


def read_inventory(path: Path) -> AnsibleInventory:
    """Read an Ansible inventory file or folder, with the group_vars/host_vars beside it.

    A folder holds ``hosts``, ``hosts.yml``, ``hosts.yaml`` or ``hosts.ini``.

    Raises:
        ConfigError: the path is missing, or a file is not a valid inventory (file and line).
    """
    inv_file = _inventory_file(path)
    base = path if path.is_dir() else path.parent
    inv = AnsibleInventory()
    _parse_inventory_file(inv, inv_file)
    for name in list(inv.groups):
        for f in _vars_files(base / "group_vars", name):
            inv.groups[name].vars.update(_load_vars(inv, f))
    for host in list(inv.host_vars):
        for f in _vars_files(base / "host_vars", host):
            inv.host_vars[host].update(_load_vars(inv, f))
    return inv
