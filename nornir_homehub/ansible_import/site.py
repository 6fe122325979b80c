"""Building a nornir_homehub site from a read Ansible inventory, and writing it.

Groups map to roles (a group named like a role, or ``--role GROUP=ROLE``); Ansible's
connection variables become the inventory's own fields; values nornir_homehub derives and
``{{ vault_x }}`` indirections are dropped with a note; inline ``!vault`` blobs are copied
verbatim into the new site's ``inventory/vault.yml``, whole-file vaults are referenced.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nornir_homehub.ansible_import.reader import AnsibleInventory, InlineVault, read_inventory
from nornir_homehub.defaults import VAULT_PASSWORD_FILE
from nornir_homehub.errors import ConfigError
from nornir_homehub.scaffold import GROUPS_YAML, ROLES, defaults_yaml

__all__ = ["ImportResult", "build_site", "host_roles", "import_ansible", "parse_role_options"]

_VAULT_REF_RE = re.compile(r"^\s*\{\{\s*(vault_[A-Za-z0-9_]+)\s*\}\}\s*$")
# Ansible's connection variables and where they go in a nornir_homehub inventory.
_CONNECTION_VARS = {
    "ansible_host": "hostname",
    "ansible_port": "port",
    "ansible_user": "username",
    "ansible_ssh_private_key_file": "key_file",
}


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
    from nornir_homehub.scaffold import config_yaml, gitignore, write_site_file

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
    write_site_file(
        out / "config.yaml", config_yaml(vault_file=vault_ref, password_file=password_ref)
    )
    write_site_file(
        out / "inventory" / "hosts.yaml",
        header + yaml.safe_dump(site.hosts, sort_keys=False, default_flow_style=False),
    )
    write_site_file(out / "inventory" / "groups.yaml", GROUPS_YAML)
    write_site_file(
        out / "inventory" / "defaults.yaml",
        header + yaml.safe_dump(site.defaults, sort_keys=False, default_flow_style=False),
    )
    if site.inline:
        write_site_file(out / "inventory" / "vault.yml", _inline_vault_text(site.inline), 0o600)
    write_site_file(out / ".gitignore", gitignore())
    return ImportResult(
        directory=out,
        hosts=dict(host_role),
        skipped=tuple(skipped),
        vault_files=tuple(vaults),
        inline_secrets=tuple(sorted(site.inline)),
        notes=tuple(site.notes),
    )
