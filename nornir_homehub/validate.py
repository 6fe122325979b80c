"""Schema validation of config.yaml and the inventory, before Nornir sees them.

Pure: reads nothing but what it is given (and, for paths, whether they exist), opens no
connection and resolves no name. Every check adds to a `Problems` collector, so one run lists
every problem (``FILE:LINE: key.path: what is wrong; valid: ...``); the caller raises them
together. What is checked:

* config.yaml: the known sections and keys only (``homehub:`` included), plugin names that are
  registered, ``num_workers`` a positive integer, logging values;
* the inventory (SimpleInventory's hosts/groups/defaults files): host and group names (letters,
  digits, ``-``, ``_``, ``.``), the known keys of each entry, addresses that are IPs or DNS
  names, ports 1-65535, groups that exist (no cycles), every host with a known role, stacks
  that exist, connection plugins and their extras (`connection_options`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nornir_homehub.connection_options import (
    OPTIONS as CONNECTION_OPTIONS,
)
from nornir_homehub.connection_options import (
    PATH_EXTRAS,
    check_extras,
)
from nornir_homehub.problems import Problems, one_of, show, type_name, unknown
from nornir_homehub.yamlfile import YamlDoc

if TYPE_CHECKING:
    from nornir.core import Nornir

# How runbooks and checks use roles: trusted (LiteLLM, Open WebUI, Traefik), compute (Ollama,
# Qdrant, GPU), dns (BIND9), node (extra compute-like hosts deployed with compute).
KNOWN_ROLES = ("compute", "dns", "node", "trusted")
CONNECTION_KINDS = ("local", "ssh")

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_NAME_MAX = 253

_ELEMENT_KEYS = ("hostname", "port", "username", "password", "platform", "data")
HOST_KEYS = (*_ELEMENT_KEYS, "groups", "connection_options")
GROUP_KEYS = HOST_KEYS
DEFAULTS_KEYS = (*_ELEMENT_KEYS, "connection_options")
CONNECTION_KEYS = ("hostname", "port", "username", "password", "platform", "extras")

CONFIG_SECTIONS: Mapping[str, tuple[str, ...]] = {
    "inventory": ("plugin", "options", "transform_function", "transform_function_options"),
    "runner": ("plugin", "options"),
    "logging": ("enabled", "level", "log_file", "format", "to_console", "loggers"),
    "core": ("raise_on_error",),
    "ssh": ("config_file",),
    "user_defined": (),
    "homehub": (
        "stacks_dir",
        "runbooks_dir",
        "vault_file",
        "vault_password_file",
        "report_dir",
        "history_dir",
        "lab_dir",
    ),
}
SIMPLE_INVENTORY_OPTIONS = ("host_file", "group_file", "defaults_file", "encoding")
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")


# --------------------------------------------------------------------------- values


def name_problem(name: object, what: str) -> str | None:
    """Why ``name`` is not a valid host/group name, or None."""
    if isinstance(name, int | float):
        return (
            f"{what} name {name} is a number, not a name; quote it ('{name}') "
            "if that is really its name"
        )
    if not isinstance(name, str):
        return f"{what} name must be a string, got {type_name(name)}"
    if not name or len(name) > _NAME_MAX or not _NAME_RE.match(name):
        return (
            f"{what} name {show(name)} is not valid: use letters, digits, '-', '_' and '.', "
            "starting with a letter or digit"
        )
    return None


def address_problem(value: object) -> str | None:
    """Why ``value`` is not an IP address or DNS name, or None (nothing is resolved)."""
    if not isinstance(value, str):
        return f"must be an IP address or DNS name (a string), got {type_name(value)}"
    text = value.strip()
    if not text:
        return "is empty: give an IP address or DNS name"
    try:
        ipaddress.ip_address(text)
    except ValueError:
        pass
    else:
        return None
    labels = text.rstrip(".").split(".")
    if ":" in text:
        problem = "is not a valid IPv6 address"
    elif all(label.isdigit() for label in labels):
        problem = "is not a valid IP address"
    elif len(text) > _NAME_MAX or not all(_LABEL_RE.match(label) for label in labels):
        problem = (
            "is neither an IP address nor a DNS name (letters, digits and '-' in "
            "dot-separated labels)"
        )
    else:
        return None
    return f"{show(value)} {problem}"


def port_problem(value: object) -> str | None:
    """Why ``value`` is not a TCP port (1-65535), or None."""
    if isinstance(value, bool) or not isinstance(value, int):
        got = show(value) if isinstance(value, str | float) else type_name(value)
        return f"must be a port number 1-65535, got {got}"
    if not 1 <= value <= 65535:
        return f"port {value} is out of range (1-65535)"
    return None


def _text_problem(value: object, *, secret: bool = False) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, got {type_name(value)}"
    if not value.strip() and not secret:
        return "is empty"
    return None


# --------------------------------------------------------------------------- config.yaml


def registered(group: str, kind: Callable[[Any], bool]) -> list[str]:
    """Names of the Nornir plugins of entry point ``group``, plus those registered in code.

    Nornir's registers share one dict of every kind of plugin; ``kind(plugin)`` tells which of
    the code-registered ones belong to ``group``.
    """
    from nornir.core.plugins.inventory import InventoryPluginRegister

    names = {ep.name for ep in metadata.entry_points(group=group)}
    shared: dict[str, Any] = InventoryPluginRegister.available
    names |= {name for name, plugin in shared.items() if kind(plugin)}
    return sorted(names)


def _is_inventory(plugin: Any) -> bool:
    return hasattr(plugin, "load")


def _is_runner(plugin: Any) -> bool:
    return hasattr(plugin, "run") and not hasattr(plugin, "open") and not hasattr(plugin, "load")


def _is_function(plugin: Any) -> bool:
    return not isinstance(plugin, type) and callable(plugin)


def _key_path(keys: Sequence[object]) -> str:
    out = ""
    for k in keys:
        out += f"[{k}]" if isinstance(k, int) else (f".{k}" if out else str(k))
    return out


class _Checker:
    """Helpers that add problems located in one YAML document."""

    def __init__(self, doc: YamlDoc, problems: Problems) -> None:
        self.doc = doc
        self.problems = problems

    def add(self, keys: Sequence[object], message: str) -> None:
        self.problems.add(self.doc.at(keys), _key_path(keys), message)

    def mapping(self, keys: Sequence[object], value: object, what: str) -> dict[Any, Any] | None:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.add(keys, f"{what} must be a mapping, got {type_name(value)}")
            return None
        return value

    def known_keys(
        self, keys: Sequence[object], body: Mapping[Any, Any], valid: Sequence[str]
    ) -> None:
        for key in body:
            if key not in valid:
                self.add([*keys, key], unknown("key", key, valid))

    def check(self, keys: Sequence[object], problem: str | None) -> None:
        if problem:
            self.add(keys, problem)

    def boolean(self, keys: Sequence[object], value: object) -> None:
        if value is not None and not isinstance(value, bool):
            self.add(keys, f"must be true or false, got {show(value)}")

    def text(self, keys: Sequence[object], value: object, *, optional: bool = True) -> None:
        if value is None and optional:
            return
        self.check(keys, _text_problem(value))

    def str_list(self, keys: Sequence[object], value: object) -> list[str] | None:
        if value is None:
            return []
        if not isinstance(value, list):
            self.add(keys, f"must be a list of names, got {type_name(value)}")
            return None
        ok: list[str] = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.add([*keys, i], f"must be a non-empty name, got {show(item)}")
            else:
                ok.append(item)
        return ok


def check_config(doc: YamlDoc, problems: Problems) -> None:
    """Check config.yaml's sections and keys (paths are checked by `config`).

    Every problem is added to ``problems`` with the file, line and key path.
    """
    c = _Checker(doc, problems)
    data = doc.data
    if data is None:
        problems.add(doc.path, "", "the config file is empty: expected inventory: and homehub:")
        return
    if not isinstance(data, dict):
        problems.add(doc.path, "", f"the config must be a mapping, got {type_name(data)}")
        return
    c.known_keys([], data, list(CONFIG_SECTIONS))
    sections: dict[str, dict[Any, Any]] = {}
    for name, keys in CONFIG_SECTIONS.items():
        body = c.mapping([name], data.get(name), f"section {name}")
        if body is None:
            continue
        sections[name] = body
        if keys:
            c.known_keys([name], body, keys)
    _check_inventory_section(c, sections.get("inventory"))
    _check_runner_section(c, sections.get("runner"))
    _check_logging_section(c, sections.get("logging"))
    _check_core_section(c, sections.get("core"))
    if (ssh := sections.get("ssh")) is not None:
        c.text(["ssh", "config_file"], ssh.get("config_file"))
    if (hh := sections.get("homehub")) is not None:
        for key in CONFIG_SECTIONS["homehub"]:
            if key == "vault_file" and isinstance(hh.get(key), list):
                # Several vault files, read in order (e.g. an Ansible vault and our own).
                if not hh[key]:
                    c.check(["homehub", key], "is an empty list: name at least one vault file")
                for i, item in enumerate(hh[key]):
                    c.text(["homehub", key, i], item)
            elif key in hh:
                c.text(["homehub", key], hh[key])


def _check_logging_section(c: _Checker, log: dict[Any, Any] | None) -> None:
    if log is None:
        return
    c.boolean(["logging", "enabled"], log.get("enabled"))
    c.boolean(["logging", "to_console"], log.get("to_console"))
    level = log.get("level")
    if level is not None and level not in LOG_LEVELS:
        c.add(["logging", "level"], unknown("log level", level, LOG_LEVELS))
    c.text(["logging", "log_file"], log.get("log_file"))
    c.text(["logging", "format"], log.get("format"))
    c.str_list(["logging", "loggers"], log.get("loggers"))


def _check_core_section(c: _Checker, core: dict[Any, Any] | None) -> None:
    if core is None:
        return
    raise_on_error = core.get("raise_on_error")
    c.boolean(["core", "raise_on_error"], raise_on_error)
    if raise_on_error is True:
        c.add(
            ["core", "raise_on_error"],
            "is not supported: nornir_homehub records each host's failure in the report "
            "and lets the other hosts finish; remove it",
        )


def _check_inventory_section(c: _Checker, inv: dict[Any, Any] | None) -> None:
    if inv is None:
        return
    plugin = inv.get("plugin", "SimpleInventory")
    valid = registered("nornir.plugins.inventory", _is_inventory)
    if not isinstance(plugin, str) or plugin not in valid:
        c.add(["inventory", "plugin"], unknown("inventory plugin", plugin, valid))
    options = c.mapping(["inventory", "options"], inv.get("options"), "inventory options")
    if options is not None and plugin == "SimpleInventory":
        c.known_keys(["inventory", "options"], options, SIMPLE_INVENTORY_OPTIONS)
        for key in SIMPLE_INVENTORY_OPTIONS:
            if key in options:
                c.text(["inventory", "options", key], options[key], optional=False)
    function = inv.get("transform_function")
    if function not in (None, ""):
        valid_fn = registered("nornir.plugins.transform_function", _is_function)
        if not isinstance(function, str) or function not in valid_fn:
            c.add(
                ["inventory", "transform_function"],
                unknown("transform function", function, valid_fn),
            )
    c.mapping(
        ["inventory", "transform_function_options"],
        inv.get("transform_function_options"),
        "transform_function_options",
    )


def _check_runner_section(c: _Checker, runner: dict[Any, Any] | None) -> None:
    if runner is None:
        return
    plugin = runner.get("plugin", "threaded")
    valid = registered("nornir.plugins.runners", _is_runner)
    if not isinstance(plugin, str) or plugin not in valid:
        c.add(["runner", "plugin"], unknown("runner plugin", plugin, valid))
    options = c.mapping(["runner", "options"], runner.get("options"), "runner options")
    if options is None:
        return
    if plugin == "threaded":
        c.known_keys(["runner", "options"], options, ("num_workers",))
        workers = options.get("num_workers")
        if workers is not None and (
            isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
        ):
            c.add(
                ["runner", "options", "num_workers"],
                f"must be a whole number of at least 1, got {show(workers)}",
            )
    elif plugin == "serial":
        c.known_keys(["runner", "options"], options, ())


# --------------------------------------------------------------------------- inventory


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
        defaults = _Checker(docs.defaults, problems).mapping(
            [], docs.defaults.data, "the defaults file"
        )
    if hosts is not None and not hosts:
        problems.add(docs.hosts.path, "", "the inventory has no hosts")
    group_names = list(groups or {})
    if groups is not None and docs.groups is not None:
        gc = _Checker(docs.groups, problems)
        for name, body in groups.items():
            _check_element(gc, name, body, "group", GROUP_KEYS, group_names, stacks, resolve)
        _check_group_cycles(gc, groups)
    if defaults is not None and docs.defaults is not None:
        dc = _Checker(docs.defaults, problems)
        dc.known_keys([], defaults, DEFAULTS_KEYS)
        _check_fields(dc, [], defaults, stacks, resolve)
    if hosts is None:
        return
    hc = _Checker(docs.hosts, problems)
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
    c: _Checker,
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
    c: _Checker,
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
            c.check([*keys, key], _text_problem(body[key]))
    if body.get("password") is not None:
        c.check([*keys, "password"], _text_problem(body["password"], secret=True))
    data = c.mapping([*keys, "data"], body.get("data"), "data")
    if data:
        _check_data(c, [*keys, "data"], data, stacks)
    conns = c.mapping(
        [*keys, "connection_options"], body.get("connection_options"), "connection_options"
    )
    for plugin, opts in (conns or {}).items():
        _check_connection(c, [*keys, "connection_options", plugin], plugin, opts, resolve)


def _check_connection(
    c: _Checker,
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


def _check_data(
    c: _Checker, keys: list[object], data: Mapping[Any, Any], stacks: Sequence[str] | None
) -> None:
    if "role" in data and data["role"] not in KNOWN_ROLES:
        c.add([*keys, "role"], unknown("role", data["role"], KNOWN_ROLES))
    if "stacks" in data:
        listed = c.str_list([*keys, "stacks"], data["stacks"])
        for i, stack in enumerate(listed or []):
            if stacks is not None and stack not in stacks:
                c.add([*keys, "stacks", i], unknown("stack", stack, stacks))
    if data.get("connection") is not None and data["connection"] not in CONNECTION_KINDS:
        c.add(
            [*keys, "connection"],
            f"must be {' or '.join(CONNECTION_KINDS)}, got {show(data['connection'])}",
        )
    for key in ("fqdn", "domain"):
        if data.get(key) is not None:
            c.check([*keys, key], address_problem(data[key]))
    _check_site_values(c, keys, data)


# Site values the tasks read, checked here so a wrong shape stops the run at load instead of
# failing a task after the host was contacted.
_DATA_NAME_LISTS = ("ollama_models", "public_services", "internal_services", "backup_stop")
_DATA_PATHS = ("data_root", "stacks_root", "backup_dir")
# Seconds the deploy and verify waits read: key -> may it be 0?
_DATA_SECONDS = {
    "deploy_wait_timeout": False,
    "deploy_stable_window": True,
    "edge_wait_timeout": False,
    "edge_settle_timeout": True,
}


def _check_site_values(c: _Checker, keys: list[object], data: Mapping[Any, Any]) -> None:
    for key in _DATA_NAME_LISTS:
        if key in data:
            c.str_list([*keys, key], data[key])
    for key in _DATA_PATHS:
        value = data.get(key)
        if value is not None and (not isinstance(value, str) or not value.startswith("/")):
            c.add([*keys, key], f"must be an absolute path, got {show(value)}")
    _check_waits(c, keys, data)
    keep = data.get("backup_keep")
    if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 1):
        c.add([*keys, "backup_keep"], f"must be a whole number of at least 1, got {show(keep)}")
    legacy = data.get("legacy_stack_dirs")
    if legacy is not None:
        table = c.mapping([*keys, "legacy_stack_dirs"], legacy, "legacy_stack_dirs")
        for role, dirs in (table or {}).items():
            where = [*keys, "legacy_stack_dirs", role]
            if role not in KNOWN_ROLES:
                c.add(where, unknown("role", role, KNOWN_ROLES))
            elif not isinstance(dirs, list) or not all(
                isinstance(d, str) and d.startswith("/") for d in dirs
            ):
                c.add(where, "must be a list of absolute paths")
    if data.get("gpu_thresholds") is not None:
        from nornir_homehub.checks.gpu import GpuThresholds
        from nornir_homehub.errors import ConfigError

        try:
            GpuThresholds.from_data("", data["gpu_thresholds"])
        except ConfigError as exc:
            c.add([*keys, "gpu_thresholds"], str(exc).removeprefix(": "))


def _check_waits(c: _Checker, keys: list[object], data: Mapping[Any, Any]) -> None:
    """The deploy and verify waits (seconds) and Traefik's API address."""
    for key, zero_ok in _DATA_SECONDS.items():
        value = data.get(key)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if value is not None and (not number or value < 0 or (value == 0 and not zero_ok)):
            need = "a number of seconds >= 0" if zero_ok else "a positive number of seconds"
            c.add([*keys, key], f"must be {need}, got {show(value)}")
    api = data.get("traefik_api_url")
    if api is not None and (
        not isinstance(api, str) or not api.startswith(("http://", "https://"))
    ):
        c.add([*keys, "traefik_api_url"], f"must be an http(s) URL or null, got {show(api)}")


def _check_group_cycles(c: _Checker, groups: Mapping[Any, Any]) -> None:
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
    c: _Checker,
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
