"""``homehub import-ansible``: turn an Ansible inventory (+ group_vars/host_vars) into a site.

Reads YAML and INI inventories, ``group_vars``/``host_vars`` as files and folders, whole-file
vaults and inline ``!vault`` values. Nothing is decrypted to be written again: whole-file vaults
are referenced from the new config, inline ``!vault`` blobs are copied verbatim into the new
site's ``inventory/vault.yml``. Groups map to roles (a group named like a role, or
``--role GROUP=ROLE``); Ansible's connection variables become the inventory's own fields.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nornir_homehub.defaults import VAULT_PASSWORD_FILE
from nornir_homehub.errors import ConfigError
from nornir_homehub.scaffold import GROUPS_YAML, ROLES, defaults_yaml

_VAULT_HEADER = "$ANSIBLE_VAULT"
_VARS_SUFFIXES = ("", ".yml", ".yaml", ".json")
_RANGE_RE = re.compile(r"\[(\d+):(\d+)\]")
_VAULT_REF_RE = re.compile(r"^\s*\{\{\s*(vault_[A-Za-z0-9_]+)\s*\}\}\s*$")
# Ansible's connection variables and where they go in a nornir_homehub inventory.
_CONNECTION_VARS = {
    "ansible_host": "hostname",
    "ansible_port": "port",
    "ansible_user": "username",
    "ansible_ssh_private_key_file": "key_file",
}


class InlineVault(str):
    """An inline ``!vault |`` value, kept as its ciphertext."""

    __slots__ = ()


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps ``!vault`` values as ciphertext and reads ``!unsafe`` as text."""


_Loader.add_constructor(
    "!vault",
    lambda loader, node: InlineVault(loader.construct_scalar(node)),  # type: ignore[arg-type]
)
_Loader.add_constructor(
    "!unsafe",
    lambda loader, node: str(loader.construct_scalar(node)),  # type: ignore[arg-type]
)


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
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - SafeLoader subclass
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
            doc = yaml.load(text, Loader=_Loader)  # noqa: S506 - SafeLoader subclass
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


def parse_role_options(values: Iterable[str]) -> dict[str, str]:
    """Parse ``GROUP=ROLE`` options.

    Raises:
        ConfigError: not of that form, or an unknown role.
    """
    out = {}
    for text in values:
        group, sep, role = text.partition("=")
        if not sep or not group or role not in ROLES:
            raise ConfigError(f"--role {text!r}: expected GROUP=ROLE with ROLE one of {ROLES}")
        out[group] = role
    return out


def host_roles(
    inv: AnsibleInventory, mapping: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """Each host's role, from ``mapping`` (GROUP=ROLE) or a group named like a role.

    Returns:
        (host -> role for the hosts with exactly one role, hosts with no role).

    Raises:
        ConfigError: a host would get two roles (the message names its groups).
    """
    roles: dict[str, str] = {}
    skipped = []
    for host in inv.host_vars:
        groups = inv.groups_of(host)
        found = {mapping.get(g, g if g in ROLES else "") for g in groups} - {""}
        given = inv.merged_vars(host).get("role")
        if isinstance(given, str) and given in ROLES:
            found = {given}
        if len(found) > 1:
            raise ConfigError(
                f"host {host} maps to roles {', '.join(sorted(found))} through groups "
                f"{', '.join(groups)}; settle it with --role GROUP=ROLE"
            )
        if found:
            roles[host] = found.pop()
        else:
            skipped.append(host)
    return roles, skipped


def _site_defaults() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(defaults_yaml("example.invalid", "UTC"))
    return doc


@dataclass(frozen=True)
class ImportResult:
    """What ``import-ansible`` wrote and what it left out."""

    directory: Path
    hosts: dict[str, str]
    skipped: tuple[str, ...]
    vault_files: tuple[Path, ...]
    inline_secrets: tuple[str, ...]
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "directory": str(self.directory),
            "hosts": dict(self.hosts),
            "skipped": list(self.skipped),
            "vault_files": [str(p) for p in self.vault_files],
            "inline_secrets": list(self.inline_secrets),
            "notes": list(self.notes),
        }


@dataclass
class _Site:
    """The new site's documents, built from the Ansible inventory."""

    defaults: dict[str, Any]
    hosts: dict[str, Any] = field(default_factory=dict)
    inline: dict[str, str] = field(default_factory=dict)
    dropped: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def note(self, owner: str, key: str, why: str) -> None:
        owners = self.dropped.setdefault((key, why), [])
        if owner not in owners:
            owners.append(owner)

    @property
    def notes(self) -> list[str]:
        """One line per variable and reason, naming where it was set."""
        return [
            f"{key!r} {why} ({', '.join(owners)})" for (key, why), owners in self.dropped.items()
        ]


def _has_vault(value: Any) -> bool:
    if isinstance(value, InlineVault):
        return True
    if isinstance(value, dict):
        return any(_has_vault(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_vault(v) for v in value)
    return False


def _split_vars(
    site: _Site, owner: str, variables: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(connection fields, data) of one variable set; secrets and Ansible-only vars set aside."""
    conn: dict[str, Any] = {}
    data: dict[str, Any] = {}
    for key, value in variables.items():
        if isinstance(value, InlineVault):
            old = site.inline.get(key)
            if old is not None and old != str(value):
                raise ConfigError(
                    f"{owner}: inline vault value {key!r} differs from another group's or host's; "
                    "a nornir_homehub vault holds one value per name"
                )
            site.inline[key] = str(value)
        elif _has_vault(value):
            site.note(owner, key, "nests a !vault value: not imported (make it a top-level value)")
        elif key in _CONNECTION_VARS:
            conn[_CONNECTION_VARS[key]] = value
        elif key == "ansible_connection" and value == "local":
            data["connection"] = "local"
        elif key.startswith("ansible_"):
            site.note(owner, key, "dropped: an Ansible-only variable")
        elif isinstance(value, str) and _VAULT_REF_RE.match(value):
            site.note(owner, key, "dropped: the templates read the vault_* names directly")
        elif key in ("ai_compute_ip", "extra_hosts", "inventory_hostname"):
            site.note(owner, key, "dropped: nornir_homehub derives it from the inventory")
        else:
            if isinstance(value, str) and "{{" in value:
                site.note(
                    owner,
                    key,
                    "kept as text: it holds Jinja, and inventory values are not templated",
                )
            data[key] = value
    return conn, data


def build_site(inv: AnsibleInventory, roles: Mapping[str, str]) -> _Site:
    """The documents of the new site: defaults (built-in values + ``all`` vars), hosts, vault."""
    site = _Site(defaults=_site_defaults())
    all_conn, all_data = _split_vars(site, "group all", inv.groups["all"].vars)
    site.defaults["data"].update(all_data)
    if "username" in all_conn:
        site.defaults["username"] = all_conn["username"]
    if "port" in all_conn:
        site.defaults["port"] = all_conn["port"]
    if "key_file" in all_conn:
        site.defaults["connection_options"]["homehub_ssh"]["extras"]["key_file"] = all_conn[
            "key_file"
        ]
    base = site.defaults["data"]
    for host in sorted(roles, key=lambda h: (ROLES.index(roles[h]), h)):
        inherited = inv.groups["all"].vars
        own = {
            k: v
            for k, v in inv.merged_vars(host).items()
            if k not in inherited or inherited[k] is not v
        }
        conn, data = _split_vars(site, f"host {host}", own)
        conn = {**all_conn, **conn}
        data = {k: v for k, v in data.items() if k not in base or base[k] != v}
        data.pop("role", None)
        if "fqdn" not in data:
            domain = base.get("domain", "")
            data["fqdn"] = host if "." in host else f"{host}.{domain}"
        entry: dict[str, Any] = {"hostname": str(conn.get("hostname", host))}
        if "port" in conn and conn["port"] != site.defaults.get("port"):
            entry["port"] = int(conn["port"])
        if "username" in conn and conn["username"] != site.defaults.get("username"):
            entry["username"] = conn["username"]
        entry["groups"] = [roles[host]]
        entry["data"] = {"role": roles[host], "fqdn": data.pop("fqdn"), **data}
        if "key_file" in conn and conn["key_file"] != all_conn.get("key_file"):
            entry["connection_options"] = {
                "homehub_ssh": {"extras": {"key_file": conn["key_file"]}}
            }
        site.hosts[host] = entry
    return site


def _inline_vault_text(values: Mapping[str, str]) -> str:
    lines = ["# Inline vault values copied verbatim from the Ansible vars (not re-encrypted)."]
    for name in sorted(values):
        lines.append(f"{name}: !vault |")
        lines += [f"  {line.strip()}" for line in values[name].strip().splitlines()]
    return "\n".join(lines) + "\n"


def _rel(target: Path, start: Path) -> str:
    """``target`` relative to ``start`` when it lies below it, else absolute."""
    try:
        return str(target.resolve().relative_to(start.resolve()))
    except ValueError:
        return str(target.resolve())


def import_ansible(
    inventory: Path,
    out: Path,
    *,
    roles: Mapping[str, str] | None = None,
    password_file: Path | None = None,
) -> ImportResult:
    """Read the Ansible inventory at ``inventory`` and write a nornir_homehub site to ``out``.

    Args:
        inventory: an Ansible inventory file or folder (with group_vars/host_vars beside it).
        out: the new site's folder (missing or empty).
        roles: GROUP -> role for groups not named like a role.
        password_file: the Ansible vault password file; the new config references it.

    Returns:
        What was written and what was left out (hosts without a role, dropped variables).

    Raises:
        ConfigError: unreadable inventory, a host with two roles, no host with a role, or
            ``out`` not empty.
    """
    from nornir_homehub.scaffold import _write, config_yaml, gitignore

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out} exists and is not an empty folder; import writes a new site")
    inv = read_inventory(inventory)
    host_role, skipped = host_roles(inv, roles or {})
    if not host_role:
        groups = ", ".join(sorted(g for g in inv.groups if g != "all")) or "(none)"
        raise ConfigError(
            f"no host of {inventory} maps to a role ({', '.join(ROLES)}); groups: {groups}; "
            "map them with --role GROUP=ROLE"
        )
    site = build_site(inv, host_role)
    vaults = sorted(set(inv.vault_files))
    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o700)
    refs = [_rel(v, out) for v in vaults] + (["inventory/vault.yml"] if site.inline else [])
    vault_ref = json.dumps(refs) if len(refs) > 1 else (refs[0] if refs else "inventory/vault.yml")
    password_ref = _rel(password_file, out) if password_file else VAULT_PASSWORD_FILE
    header = (
        f"# Imported from the Ansible inventory {inventory.resolve()} by homehub import-ansible.\n"
    )
    _write(out / "config.yaml", config_yaml(vault_file=vault_ref, password_file=password_ref))
    _write(
        out / "inventory" / "hosts.yaml",
        header + yaml.safe_dump(site.hosts, sort_keys=False, default_flow_style=False),
    )
    _write(out / "inventory" / "groups.yaml", GROUPS_YAML)
    _write(
        out / "inventory" / "defaults.yaml",
        header + yaml.safe_dump(site.defaults, sort_keys=False, default_flow_style=False),
    )
    if site.inline:
        _write(out / "inventory" / "vault.yml", _inline_vault_text(site.inline), 0o600)
    _write(out / ".gitignore", gitignore())
    return ImportResult(
        directory=out,
        hosts=dict(host_role),
        skipped=tuple(skipped),
        vault_files=tuple(vaults),
        inline_secrets=tuple(sorted(site.inline)),
        notes=tuple(site.notes),
    )
