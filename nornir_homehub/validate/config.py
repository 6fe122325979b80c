"""Checks of config.yaml: known sections and keys, registered plugins, runner and log values.

The files and folders the file names are checked by `nornir_homehub.config`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any

from nornir_homehub.problems import Problems, type_name, unknown
from nornir_homehub.validate.rules import Checker, count_problem
from nornir_homehub.yamlfile import YamlDoc

__all__ = [
    "CONFIG_SECTIONS",
    "LOG_LEVELS",
    "SIMPLE_INVENTORY_OPTIONS",
    "check_config",
    "registered",
]

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


def check_config(doc: YamlDoc, problems: Problems) -> None:
    """Check config.yaml's sections and keys (paths are checked by `config`).

    Every problem is added to ``problems`` with the file, line and key path.
    """
    c = Checker(doc, problems)
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


def _check_logging_section(c: Checker, log: dict[Any, Any] | None) -> None:
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


def _check_core_section(c: Checker, core: dict[Any, Any] | None) -> None:
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


# What a plugin is -> its entry point group and how to tell a code-registered one.
_PLUGIN_KINDS: Mapping[str, tuple[str, Callable[[Any], bool]]] = {
    "inventory plugin": ("nornir.plugins.inventory", _is_inventory),
    "runner plugin": ("nornir.plugins.runners", _is_runner),
    "transform function": ("nornir.plugins.transform_function", _is_function),
}


def _check_plugin(c: Checker, keys: list[object], name: object, what: str) -> None:
    """``name`` (at ``keys``) is a registered plugin of the kind ``what``."""
    valid = registered(*_PLUGIN_KINDS[what])
    if not isinstance(name, str) or name not in valid:
        c.add(keys, unknown(what, name, valid))


def _plugin_and_options(
    c: Checker, section: str, body: dict[Any, Any], default: str
) -> tuple[object, dict[Any, Any] | None]:
    """The ``plugin`` of an inventory or runner section, checked, and its ``options`` mapping."""
    plugin = body.get("plugin", default)
    _check_plugin(c, [section, "plugin"], plugin, f"{section} plugin")
    options = c.mapping([section, "options"], body.get("options"), f"{section} options")
    return plugin, options


def _check_inventory_section(c: Checker, inv: dict[Any, Any] | None) -> None:
    if inv is None:
        return
    plugin, options = _plugin_and_options(c, "inventory", inv, "SimpleInventory")
    if options is not None and plugin == "SimpleInventory":
        c.known_keys(["inventory", "options"], options, SIMPLE_INVENTORY_OPTIONS)
        for key in SIMPLE_INVENTORY_OPTIONS:
            if key in options:
                c.text(["inventory", "options", key], options[key], optional=False)
    function = inv.get("transform_function")
    if function not in (None, ""):
        _check_plugin(c, ["inventory", "transform_function"], function, "transform function")
    c.mapping(
        ["inventory", "transform_function_options"],
        inv.get("transform_function_options"),
        "transform_function_options",
    )


def _check_runner_section(c: Checker, runner: dict[Any, Any] | None) -> None:
    if runner is None:
        return
    plugin, options = _plugin_and_options(c, "runner", runner, "threaded")
    if options is None:
        return
    if plugin == "threaded":
        c.known_keys(["runner", "options"], options, ("num_workers",))
        workers = options.get("num_workers")
        if workers is not None:
            c.check(["runner", "options", "num_workers"], count_problem(workers))
    elif plugin == "serial":
        c.known_keys(["runner", "options"], options, ())
