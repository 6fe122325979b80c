"""Checks of a host's, group's or the defaults' ``data:``: role, stacks and the site values.

Site values the tasks read (paths, waits, lists of names, backup settings, GPU thresholds) are
checked here, so a wrong shape stops the run at load instead of failing a task after the host
was contacted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nornir_homehub.imageref import reference_problem
from nornir_homehub.problems import show, unknown
from nornir_homehub.validate.rules import Checker, address_problem, count_problem

__all__ = ["CONNECTION_KINDS", "KNOWN_ROLES"]

# How runbooks and checks use roles: trusted (LiteLLM, Open WebUI, Traefik), compute (Ollama,
# Qdrant, GPU), dns (BIND9), node (extra compute-like hosts deployed with compute).
KNOWN_ROLES = ("compute", "dns", "node", "trusted")
CONNECTION_KINDS = ("local", "ssh")
# How the trusted containers resolve the internal names: compose extra_hosts (default), or the
# zone's own BIND server (compose dns:), see nornir_homehub.inventory.site_vars.
INTERNAL_DNS_MODES = ("bind", "extra_hosts")


def check_data(
    c: Checker, keys: list[object], data: Mapping[Any, Any], stacks: Sequence[str] | None
) -> None:
    """Check a host's, group's or the defaults' ``data`` at ``keys`` (``stacks``: the known ones).

    Adds each problem to ``c``: an unknown role, stack or connection kind, a bad address, and
    the shape of the site values the tasks read.
    """
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
_DATA_NAME_LISTS = (
    "public_services",
    "internal_services",
    "backup_stop",
    "insecure_registries",  # host:port of registries `outdated` asks over plain HTTP
)
_DATA_PATHS = ("data_root", "stacks_root", "backup_dir", "homehub_root")
# Seconds the deploy and verify waits read: key -> may it be 0?
_DATA_SECONDS = {
    "deploy_wait_timeout": False,
    "deploy_stable_window": True,
    "edge_wait_timeout": False,
    "edge_settle_timeout": True,
    "monitoring_settle_timeout": True,
    "lock_ttl": False,
}


def _check_site_values(c: Checker, keys: list[object], data: Mapping[Any, Any]) -> None:
    for key in _DATA_NAME_LISTS:
        if key in data:
            c.str_list([*keys, key], data[key])
    _check_models(c, keys, data)
    for key in _DATA_PATHS:
        value = data.get(key)
        if value is not None and (not isinstance(value, str) or not value.startswith("/")):
            c.add([*keys, key], f"must be an absolute path, got {show(value)}")
    _check_waits(c, keys, data)
    _check_images(c, keys, data)
    _check_counts(c, keys, data)
    _check_internal_dns(c, keys, data)
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


def _check_models(c: Checker, keys: list[object], data: Mapping[Any, Any]) -> None:
    """``ollama_models`` entries, ``ollama_env`` (extra env for Ollama), ``qdrant_host``."""
    if "ollama_models" in data:
        from nornir_homehub.plan.models import entry_problems

        for where, message in entry_problems(data["ollama_models"]):
            c.add([*keys, "ollama_models", *where], message)
    env = data.get("ollama_env")
    if env is not None:
        table = c.mapping([*keys, "ollama_env"], env, "ollama_env")
        for name, value in (table or {}).items():
            if not isinstance(name, str) or not name.replace("_", "A").isalnum():
                c.add([*keys, "ollama_env", name], "must be an environment variable name")
            elif isinstance(value, dict | list) or value is None:
                c.add([*keys, "ollama_env", name], f"must be a string or number, got {show(value)}")
    choice = data.get("qdrant_host")
    if choice is not None and not isinstance(choice, str):
        c.add([*keys, "qdrant_host"], f"must be a compute host's name, got {show(choice)}")


def _check_internal_dns(c: Checker, keys: list[object], data: Mapping[Any, Any]) -> None:
    """``internal_dns`` (a mode) and ``internal_dns_servers`` (IP addresses)."""
    mode = data.get("internal_dns")
    if mode is not None and mode not in INTERNAL_DNS_MODES:
        c.add([*keys, "internal_dns"], unknown("internal_dns", mode, INTERNAL_DNS_MODES))
    servers = data.get("internal_dns_servers")
    if servers is not None:
        listed = c.str_list([*keys, "internal_dns_servers"], servers)
        for i, server in enumerate(listed or []):
            if not _is_ip(server):
                c.add(
                    [*keys, "internal_dns_servers", i], f"must be an IP address, got {show(server)}"
                )


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _check_counts(c: Checker, keys: list[object], data: Mapping[Any, Any]) -> None:
    """How many backups, releases (at least 1 each) and unused images (0 or more) to keep."""
    for count in ("backup_keep", "releases_keep"):
        if data.get(count) is not None:
            c.check([*keys, count], count_problem(data[count]))
    keep = data.get("images_keep")
    if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 0):
        c.add([*keys, "images_keep"], f"must be a whole number >= 0, got {show(keep)}")


def _check_images(c: Checker, keys: list[object], data: Mapping[Any, Any]) -> None:
    """``images``: stack -> a valid reference (a tag, a digest pin, or both)."""
    if "images" in data:
        # Rendered into compose as written: a bad reference would fail only at the pull.
        table = c.mapping([*keys, "images"], data["images"], "images")
        for name, ref in (table or {}).items():
            c.check([*keys, "images", name], reference_problem(ref))


def _check_waits(c: Checker, keys: list[object], data: Mapping[Any, Any]) -> None:
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
    prom = data.get("prometheus_url")
    if prom is not None and (
        not isinstance(prom, str) or not prom.startswith(("http://", "https://"))
    ):
        c.add([*keys, "prometheus_url"], f"must be an http(s) URL, got {show(prom)}")
    if data.get("node_exporter") is not None and data["node_exporter"] != "host":
        c.add(
            [*keys, "node_exporter"],
            f"must be 'host' (a node-exporter service of the host's own) or null, "
            f"got {show(data['node_exporter'])}",
        )
    # Rendered as "<n>s" into prometheus.yml, where "2.5s" is not a duration.
    every = data.get("prometheus_scrape_interval")
    if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
        c.add(
            [*keys, "prometheus_scrape_interval"],
            f"must be a whole number of seconds >= 1, got {show(every)}",
        )
