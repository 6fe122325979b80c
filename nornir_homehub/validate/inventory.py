"""Checks of the inventory: SimpleInventory's hosts, groups and defaults files.

Names, known keys, groups that exist (no cycles), connection plugins and their extras
(`connection_options`), every host with a role and an address (inherited as Nornir does);
before connecting, the SSH hosts' known_hosts and key files (`check_connection_files`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nornir_homehub.connection_options import (
    OPTIONS as CONNECTION_OPTIONS,
)
from nornir_homehub.connection_options import (
    PATH_EXTRAS,
    check_extras,
)
from nornir_homehub.problems import Problems, one_of, type_name, unknown
from nornir_homehub.validate.rules import (
    Checker,
    address_problem,
    name_problem,
    port_problem,
    text_problem,
)
from nornir_homehub.validate.site_values import KNOWN_ROLES, check_data
from nornir_homehub.yamlfile import YamlDoc

if TYPE_CHECKING:
    from nornir.core import Nornir

__all__ = [
    "CONNECTION_KEYS",
    "DEFAULTS_KEYS",
    "GROUP_KEYS",
    "HOST_KEYS",
    "InventoryDocs",
    "check_connection_files",
    "check_inventory",
]

_ELEMENT_KEYS = ("hostname", "port", "username", "password", "platform", "data")
HOST_KEYS = (*_ELEMENT_KEYS, "groups", "connection_options")
GROUP_KEYS = HOST_KEYS
DEFAULTS_KEYS = (*_ELEMENT_KEYS, "connection_options")
CONNECTION_KEYS = ("hostname", "port", "username", "password", "platform", "extras")


class InventoryDocs:
    """The three SimpleInventory files (groups and defaults may be absent)."""

    def __init__(self, hosts: YamlDoc, groups: YamlDoc | None, defaults: YamlDoc | None) -> None:
        self.hosts = hosts
        self.groups = groups
        self.defaults = defaults


def check_inventory(
    docs: InventoryDocs,
    problems: Problems,
    *,
    stacks: Sequence[str] | None = None,
    resolve: Callable[[Path, str], Path] | None = None,
) -> None:
    """Check hosts, groups and defaults; add every problem to ``problems``.

    Args:
        docs: the loaded files.
        problems: the collector.
        stacks: the stacks that exist (``data.stacks`` must name them); None skips the check.
        resolve: ``resolve(folder, value)`` -> the path an extra names (for the is-a-directory
            check of path extras); None skips it.

    """
    hosts = _top(docs.hosts, problems, "hosts")
    groups = _top(docs.groups, problems, "groups") if docs.groups else {}
    defaults: dict[Any, Any] | None = {}
    if docs.defaults is not None:
        defaults = Checker(docs.defaults, problems).mapping(
            [], docs.defaults.data, "the defaults file"
        )
    if hosts is not None and not hosts:
        problems.add(docs.hosts.path, "", "the inventory has no hosts")
    group_names = list(groups or {})
    if groups is not None and docs.groups is not None:
        gc = Checker(docs.groups, problems)
        for name, body in groups.items():
            _check_element(gc, name, body, "group", GROUP_KEYS, group_names, stacks, resolve)
        _check_group_cycles(gc, groups)
    if defaults is not None and docs.defaults is not None:
        dc = Checker(docs.defaults, problems)
        dc.known_keys([], defaults, DEFAULTS_KEYS)
        _check_fields(dc, [], defaults, stacks, resolve)
    if hosts is None:
        return
    hc = Checker(docs.hosts, problems)
    for name, body in hosts.items():
        ok = _check_element(hc, name, body, "host", HOST_KEYS, group_names, stacks, resolve)
        if ok and isinstance(body, dict):
            _check_host_inherited(hc, name, body, groups or {}, defaults or {})


def _top(doc: YamlDoc | None, problems: Problems, what: str) -> dict[Any, Any] | None:
    if doc is None or doc.data is None:
        return {}
    if not isinstance(doc.data, dict):
        problems.add(
            doc.path,
            "",
            f"the {what} file must be a mapping of name -> settings, got {type_name(doc.data)}",
        )
        return None
    return doc.data


def _check_element(
    c: Checker,
    name: object,
    body: object,
    kind: str,
    valid_keys: Sequence[str],
    group_names: Sequence[str],
    stacks: Sequence[str] | None,
    resolve: Callable[[Path, str], Path] | None,
) -> bool:
    """Check one host or group entry; False when it is unusable (bad name, empty body)."""
    bad_name = name_problem(name, kind)
    if bad_name:
        c.problems.add(c.doc.at([name]), "", bad_name)
        return False
    if body is None:
        hint = (
            "give it at least hostname and data.role"
            if kind == "host"
            else f"write `{name}: {{}}` for a group without settings"
        )
        c.add([name], f"{kind} {name} has an empty body; {hint}")
        return False
    if not isinstance(body, dict):
        c.add([name], f"{kind} {name} must be a mapping of settings, got {type_name(body)}")
        return False
    c.known_keys([name], body, valid_keys)
    member_of = c.str_list([name, "groups"], body.get("groups"))
    for i, group in enumerate(member_of or []):
        if group not in group_names:
            c.add([name, "groups", i], unknown("group", group, group_names))
    _check_fields(c, [name], body, stacks, resolve)
    return True


def _check_fields(
    c: Checker,
    keys: list[object],
    body: Mapping[Any, Any],
    stacks: Sequence[str] | None,
    resolve: Callable[[Path, str], Path] | None,
) -> None:
    """The fields hosts, groups and defaults share."""
    if body.get("hostname") is not None:
        c.check([*keys, "hostname"], address_problem(body["hostname"]))
    if body.get("port") is not None:
        c.check([*keys, "port"], port_problem(body["port"]))
    for key in ("username", "platform"):
        if body.get(key) is not None:
            c.check([*keys, key], text_problem(body[key]))
    if body.get("password") is not None:
        c.check([*keys, "password"], text_problem(body["password"], secret=True))
    data = c.mapping([*keys, "data"], body.get("data"), "data")
    if data:
        check_data(c, [*keys, "data"], data, stacks)
    conns = c.mapping(
        [*keys, "connection_options"], body.get("connection_options"), "connection_options"
    )
    for plugin, opts in (conns or {}).items():
        _check_connection(c, [*keys, "connection_options", plugin], plugin, opts, resolve)


def _check_connection(
    c: Checker,
    where: list[object],
    plugin: object,
    opts: object,
    resolve: Callable[[Path, str], Path] | None,
) -> None:
    if plugin not in CONNECTION_OPTIONS:
        c.add(where, unknown("connection plugin", plugin, CONNECTION_OPTIONS))
        return
    conn = c.mapping(where, opts, f"connection options of {plugin}")
    if not conn:
        return
    c.known_keys(where, conn, CONNECTION_KEYS)
    _check_fields(c, where, {k: v for k, v in conn.items() if k != "extras"}, None, None)
    extras = c.mapping([*where, "extras"], conn.get("extras"), "extras")
    for key, message in check_extras(str(plugin), extras or {}):
        c.add([*where, "extras", key], message)
    if extras and resolve is not None:
        for key in PATH_EXTRAS:
            value = extras.get(key)
            if isinstance(value, str) and value.strip():
                path = resolve(c.doc.path.parent, value)
                if path.is_dir():
                    c.add([*where, "extras", key], f"{path} is a directory, not a file")


def _check_group_cycles(c: Checker, groups: Mapping[Any, Any]) -> None:
    def parents(name: Any) -> list[Any]:
        body = groups.get(name)
        listed = body.get("groups") if isinstance(body, dict) else None
        return [g for g in listed if g in groups] if isinstance(listed, list) else []

    done: set[Any] = set()  # groups whose ancestry has no cycle

    def walk(node: Any, path: list[Any]) -> list[Any] | None:
        for parent in parents(node):
            if parent in path:
                return [*path[path.index(parent) :], parent]
            if parent not in done:
                found = walk(parent, [*path, parent])
                if found:
                    return found
        done.add(node)
        return None

    for start in groups:
        if start not in done:
            cycle = walk(start, [start])
            if cycle:
                done.update(cycle)
                c.add([cycle[0], "groups"], "groups form a cycle: " + " -> ".join(map(str, cycle)))


def _inherited(
    key: str, body: Mapping[Any, Any], groups: Mapping[Any, Any], defaults: Mapping[Any, Any]
) -> Any:
    """What Nornir's ``host.get(key)`` returns for data key ``key``: host, groups, defaults."""
    seen: set[Any] = set()

    def from_element(element: Mapping[Any, Any]) -> Any:
        data = element.get("data")
        if isinstance(data, dict) and key in data:
            return data[key]
        for group in element.get("groups") or []:
            if group in seen or not isinstance(groups.get(group), dict):
                continue
            seen.add(group)
            found = from_element(groups[group])
            if found is not _MISSING:
                return found
        return _MISSING

    found = from_element(body)
    if found is _MISSING:
        data = defaults.get("data")
        return data.get(key, _MISSING) if isinstance(data, dict) else _MISSING
    return found


def _inherited_attr(
    key: str, body: Mapping[Any, Any], groups: Mapping[Any, Any], defaults: Mapping[Any, Any]
) -> Any:
    """Nornir's inheritance of an element attribute (hostname, port): host, groups, defaults."""
    if body.get(key) is not None:
        return body[key]
    for group in body.get("groups") or []:
        g = groups.get(group)
        if isinstance(g, dict) and g.get(key) is not None:
            return g[key]
    return defaults.get(key)


_MISSING = object()


def _check_host_inherited(
    c: Checker,
    name: Any,
    body: Mapping[Any, Any],
    groups: Mapping[Any, Any],
    defaults: Mapping[Any, Any],
) -> None:
    role = _inherited("role", body, groups, defaults)
    if role is _MISSING or role is None:
        c.add(
            [name],
            f"host {name} has no role: set data.role ({one_of(KNOWN_ROLES)}); "
            "a host without one would be skipped silently",
        )
    connection = _inherited("connection", body, groups, defaults)
    if connection != "local" and _inherited_attr("hostname", body, groups, defaults) is None:
        c.add([name], f"host {name} has no hostname: give its IP address or DNS name")


# --------------------------------------------------------------------------- before connecting


def check_connection_files(nr: Nornir) -> None:
    """Before connecting: every selected SSH host's known_hosts and key file exist as files.

    Without them every connection would fail host by host; this names the file once, exit 2,
    before any host is touched. Hosts with ``connection: local`` need neither.

    Raises:
        InvalidConfig: a known_hosts file or a key file named in the inventory is missing.
    """
    from nornir_homehub.connection_options import SSH_OPTIONS, SSH_PLUGIN

    defaults = {o.name: o.default for o in SSH_OPTIONS}
    missing: dict[tuple[str, Path, str], list[str]] = {}
    for host in nr.inventory.hosts.values():
        if host.get("connection") == "local":
            continue
        opts = host.connection_options.get(SSH_PLUGIN)
        extras = dict(opts.extras or {}) if opts is not None else {}
        hint = (
            " (start the lab: python -m nornir_homehub lab up)" if extras.get("lab_bridge") else ""
        )
        for key in ("known_hosts", "key_file"):
            value = extras.get(key, defaults[key])
            if not value:
                continue
            path = Path(str(value)).expanduser()
            if not path.is_file():
                state = "is not a file" if path.exists() else "does not exist"
                missing.setdefault((key, path, f"{state}{hint}"), []).append(host.name)
    problems = Problems()
    for (key, path, state), names in missing.items():
        hosts = ", ".join(names)
        problems.add(f"{SSH_PLUGIN}.extras.{key}", "", f"{path} {state} (hosts: {hosts})")
    problems.raise_if_any()
