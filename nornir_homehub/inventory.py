"""Inventory helpers: ``--filter KEY=VALUE`` selection, host listing and derived site values.

`all_hosts` is the one way to the whole inventory while ``nr`` is narrowed by ``--filter`` or
``--limit`` (`keep_all_hosts` records it when the inventory is loaded). All pure with respect
to the network: nothing here opens a connection.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nornir_homehub.errors import ConfigError
from nornir_homehub.problems import did_you_mean

if TYPE_CHECKING:
    from nornir.core import Nornir
    from nornir.core.inventory import Host

BUILTIN_KEYS = ("name", "role", "group", "hostname")


@dataclass(frozen=True)
class HostFilter:
    """One ``KEY=VALUE`` term of ``--filter``."""

    key: str
    value: str

    def matches(self, host: Host) -> bool:
        """True when the host has ``key`` equal to (or, for lists, containing) ``value``."""
        if self.key == "name":
            return host.name == self.value
        if self.key == "group":
            return any(g.name == self.value for g in host.groups)
        if self.key == "hostname":
            return str(host.hostname) == self.value
        try:
            actual = host[self.key]
        except KeyError:
            return False
        if isinstance(actual, list | tuple | set):
            return self.value in {_text(a) for a in actual}
        return _text(actual) == self.value

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def parse_filters(terms: Iterable[str]) -> list[HostFilter]:
    """Parse ``KEY=VALUE`` strings.

    Raises:
        ConfigError: a term is empty, has no ``=``, an empty key or an empty value (an empty
            value, such as an unset shell variable, never means "every host").
    """
    out = []
    for term in terms:
        key, sep, value = term.partition("=")
        if not term.strip():
            raise ConfigError("--filter: empty filter; expected KEY=VALUE, e.g. role=compute")
        if not sep or not key.strip():
            raise ConfigError(f"malformed filter {term!r}: expected KEY=VALUE, e.g. role=compute")
        if not value.strip():
            raise ConfigError(
                f"--filter {term!r}: empty value for {key.strip()!r}; expected KEY=VALUE, "
                "e.g. role=compute (an empty value never selects every host)"
            )
        out.append(HostFilter(key.strip(), value.strip()))
    return out


def data_keys(nr: Nornir) -> set[str]:
    """Every key usable in a filter: the built-ins plus any host data key (inherited too)."""
    keys = set(BUILTIN_KEYS)
    for host in nr.inventory.hosts.values():
        keys.update(host.keys())
    return keys


def _values_of(nr: Nornir, key: str) -> set[str]:
    """Every value ``key`` has among the hosts (list items one by one), as filters see them."""
    out: set[str] = set()
    for host in nr.inventory.hosts.values():
        if key == "name":
            out.add(host.name)
        elif key == "group":
            out.update(g.name for g in host.groups)
        elif key == "hostname":
            out.add(str(host.hostname))
        else:
            try:
                actual = host[key]
            except KeyError:
                continue
            items = actual if isinstance(actual, list | tuple | set) else [actual]
            out.update(_text(a) for a in items if isinstance(a, str | int | float | bool))
    return out


def apply_filters(
    nr: Nornir, filters: Sequence[HostFilter], *, allow_empty: bool = False
) -> Nornir:
    """Return ``nr`` narrowed to hosts matching every filter (AND).

    Raises:
        ConfigError: a key is unknown (the message lists the valid ones, with a "did you
            mean"), or, unless ``allow_empty``, nothing is selected (the message lists the
            hosts and suggests a near value).
    """
    if not filters:
        return nr
    valid = data_keys(nr)
    unknown = sorted({f.key for f in filters} - valid)
    if unknown:
        hints = "".join(did_you_mean(k, valid) for k in unknown)
        raise ConfigError(
            f"unknown filter key(s) {', '.join(unknown)}{hints}; "
            f"valid keys: {', '.join(sorted(valid))}"
        )
    selected = nr.filter(filter_func=lambda h: all(f.matches(h) for f in filters))
    if not selected.inventory.hosts and not allow_empty:
        listing = ", ".join(f"{h.name} (role={h.get('role')})" for h in nr.inventory.hosts.values())
        terms = " AND ".join(str(f) for f in filters)
        hints = ""
        for f in filters:
            values = _values_of(nr, f.key)
            if f.value not in values:
                hint = did_you_mean(f.value, values)
                hints += hint.replace("'", f"'{f.key}=", 1) if hint else ""
        raise ConfigError(f"filter {terms} selects no host{hints}; hosts: {listing}")
    return selected


def _limit_matches(host: Host, item: str) -> bool:
    if item in ("all", "*"):
        return True
    if fnmatch.fnmatchcase(host.name, item):
        return True
    return any(fnmatch.fnmatchcase(g, item) for g in _group_names(host))


def _group_names(host: Host) -> set[str]:
    names: set[str] = set()
    todo = list(host.groups)
    while todo:
        group = todo.pop()
        if group.name not in names:
            names.add(group.name)
            todo.extend(group.groups)
    return names


def apply_limit(nr: Nornir, pattern: str | None) -> Nornir:
    """Narrow ``nr`` the way Ansible's ``--limit`` does.

    ``pattern`` lists host names or group names (``*`` globs allowed), separated by commas or
    colons: the hosts matching any of them, then ``&item`` keeps only hosts that also match
    ``item``, and ``!item`` drops those that match it. ``all`` is every host.

    Raises:
        ConfigError: an empty pattern, an item that matches no host or group (with a "did you
            mean"), or a pattern that leaves no host.
    """
    if pattern is None:
        return nr
    items = [i.strip() for i in pattern.replace(":", ",").split(",")]
    if not pattern.strip() or any(not i or i in ("!", "&") for i in items):
        raise ConfigError(
            f"--limit {pattern!r}: empty item; give host or group names, e.g. "
            "--limit srv-prod-1,trusted"
        )
    hosts = list(nr.inventory.hosts.values())
    known = {h.name for h in hosts} | {g for h in hosts for g in _group_names(h)}
    for item in items:
        bare = item.lstrip("!&")
        if bare not in ("all", "*") and not any(_limit_matches(h, bare) for h in hosts):
            raise ConfigError(
                f"--limit: {bare!r} matches no host or group{did_you_mean(bare, known)}; "
                f"hosts and groups: {', '.join(sorted(known))}"
            )
    wanted = [i for i in items if not i.startswith(("!", "&"))] or ["all"]
    keep = [i[1:] for i in items if i.startswith("&")]
    drop = [i[1:] for i in items if i.startswith("!")]

    def selected(host: Host) -> bool:
        return (
            any(_limit_matches(host, i) for i in wanted)
            and all(_limit_matches(host, i) for i in keep)
            and not any(_limit_matches(host, i) for i in drop)
        )

    narrowed = nr.filter(filter_func=selected)
    if not narrowed.inventory.hosts:
        raise ConfigError(f"--limit {pattern!r} selects no host")
    return narrowed


def keep_all_hosts(nr: Nornir) -> None:
    """Record ``nr``'s hosts as the whole inventory, for `all_hosts` (call before any filter).

    Values derived from the whole inventory (the compute host's address for a trusted host's
    extra_hosts, the zone's records) must not depend on ``--filter``; filtered Nornir objects
    share ``data``, so every copy ``nr.filter`` makes finds the hosts recorded here.
    """
    from nornir.core.state import GlobalState

    class HomehubState(GlobalState):
        __slots__ = ("all_hosts",)

    state = HomehubState(dry_run=nr.data.dry_run, failed_hosts=nr.data.failed_hosts)
    state.all_hosts = dict(nr.inventory.hosts)  # type: ignore[attr-defined]
    nr.data = state


def all_hosts(nr: Nornir, *, reload: bool = False) -> Mapping[str, Host]:
    """Every host of the inventory ``nr`` was loaded from, even when ``nr`` is filtered.

    The hosts `keep_all_hosts` recorded (`config.load_nornir` and
    `nornir_homehub.testing.scripted_nornir` do). Without that record: with ``reload`` the
    inventory plugin is loaded again (files only, no connection), else, or when that fails,
    ``nr``'s own hosts.
    """
    every: Mapping[str, Host] | None = getattr(nr.data, "all_hosts", None)
    if every:
        return every
    if reload:
        from nornir.core.plugins.inventory import InventoryPluginRegister

        cfg = nr.config.inventory
        try:
            plugin = InventoryPluginRegister.get_plugin(cfg.plugin)
            hosts: Mapping[str, Host] = plugin(**(cfg.options or {})).load().hosts
        except Exception:  # any failure of the plugin: fall back to the hosts at hand
            return nr.inventory.hosts
        return hosts
    return nr.inventory.hosts


def host_summary(host: Host) -> dict[str, Any]:
    """Name, role, address and groups of a host, as listed by ``inventory``."""
    return {
        "name": host.name,
        "role": host.get("role"),
        "hostname": host.hostname,
        "groups": [g.name for g in host.groups],
        "fqdn": host.get("fqdn"),
    }


def hosts_by_role(hosts: Mapping[str, Host], role: str) -> list[Host]:
    """Hosts whose data says ``role``, in inventory order."""
    return [h for h in hosts.values() if h.get("role") == role]


@dataclass(frozen=True)
class SiteHost:
    """What `site_vars` reads of one host of the whole inventory (`site_index`)."""

    host: Host
    role: Any
    fqdn: Any
    stacks: tuple[str, ...]
    node_exporter: Any

    @property
    def name(self) -> str:
        """The host's inventory name."""
        return str(self.host.name)


def site_index(nr: Nornir) -> tuple[SiteHost, ...]:
    """Every host of the inventory (despite a filter) as `site_vars` reads it, in order.

    Read once for a loop over the hosts: `site_vars` of N hosts then reads the inventory N
    times instead of N x N (Nornir's ``get`` walks groups and defaults each time).
    """
    return tuple(
        SiteHost(
            h, h.get("role"), h.get("fqdn"), tuple(h.get("stacks") or ()), h.get("node_exporter")
        )
        for h in all_hosts(nr).values()
    )


def site_vars(
    nr: Nornir,
    host: Host,
    facts: Mapping[str, Any] | None = None,
    *,
    index: Sequence[SiteHost] | None = None,
) -> dict[str, Any]:
    """Template variables for ``host``: its data plus values derived from the whole inventory.

    Derived (never typed twice in inventory):
        ai_compute_ip: the address of the compute host that holds Qdrant: the inventory's
            ``qdrant_host`` (a compute host's name), else the first compute host.
        ai_compute_fqdn / ai_trusted_fqdn: FQDNs of that compute host and the trusted host.
        ollama_models_desired: the ``ollama_models`` entries as `ModelEntry` dicts.
        ollama_backends: one ``{name, api_base, models}`` per compute host that runs the
            ``ollama`` stack (LiteLLM lists one deployment per backend and model); the host
            at ``ai_compute_ip`` is reached as ``ollama.<domain>``, the others by address.
            ``models`` are the entries' names, narrowed to those installed on that host when
            ``facts`` carries ``ollama_installed`` for it (gathered after the compute stage).
        internal_names: ``{"<internal>.<domain>": ai_compute_ip}`` for each internal service
            name: what the trusted containers must resolve them to.
        extra_hosts: ``internal_names`` with ``internal_dns: extra_hosts`` (the default), else
            empty.
        internal_dns_servers: with ``internal_dns: bind``, the addresses the trusted
            containers ask (compose ``dns:``): the inventory's list, else the dns host's address.
        monitoring_targets: ``[{name, address, role, service}]`` of every host that runs a
            node-exporter: its stacks list ``monitoring`` or ``node-exporter`` (service
            ``container``), or its data says ``node_exporter: host`` (a host service the
            operator installed, e.g. Debian's prometheus-node-exporter on a dns host without
            Docker; service ``host``). What Prometheus scrapes.
        inventory_hostname, ansible-style, for templates ported from the guide.

    Args:
        nr: the Nornir object (its whole inventory, despite a filter).
        host: the host to render for.
        facts: facts gathered during this run (``ollama_installed``: host -> installed model
            names); None offline (``render``, dry runs): the inventory's list as declared.
        index: `site_index` of ``nr``, read once by a caller that loops over the hosts.

    Raises:
        ConfigError: ``qdrant_host`` does not name a compute host; ``internal_dns: bind``
            without a dns host whose address is an IP and without ``internal_dns_servers``.
    """
    from nornir_homehub.plan.models import parse_model_entries, present_model_names

    values: dict[str, Any] = dict(host.items())
    values["inventory_hostname"] = host.name
    values["host_address"] = host.hostname
    every = site_index(nr) if index is None else index
    compute = [s for s in every if s.role == "compute"]
    trusted = [s for s in every if s.role == "trusted"]
    domain = values.get("domain", "")
    entries = parse_model_entries(values.get("ollama_models"))
    values["ollama_models_desired"] = [e.to_dict() for e in entries]
    values["ollama_backends"] = []
    if compute:
        primary = _qdrant_host(compute, values.get("qdrant_host"))
        values["ai_compute_ip"] = primary.host.hostname
        values["ai_compute_fqdn"] = primary.fqdn
        values["extra_hosts"] = {
            f"{name}.{domain}": primary.host.hostname
            for name in values.get("internal_services", [])
        }
        installed = (facts or {}).get("ollama_installed")
        for h in compute:
            if "ollama" not in h.stacks:
                continue
            base = f"ollama.{domain}" if h is primary else h.host.hostname
            values["ollama_backends"].append(
                {
                    "name": h.name,
                    "api_base": f"http://{base}:11434",
                    "models": present_model_names(entries, installed, h.name),
                }
            )
    else:
        values.setdefault("extra_hosts", {})
    if trusted:
        values["ai_trusted_fqdn"] = trusted[0].fqdn
    values["internal_names"] = dict(values["extra_hosts"])
    if values.get("internal_dns") == "bind":
        values["extra_hosts"] = {}
        dns = [s.host for s in every if s.role == "dns"]
        values["internal_dns_servers"] = _dns_servers(host, values, dns)
    targets = []
    for s in every:
        in_stack = bool({"monitoring", "node-exporter"} & set(s.stacks))
        if in_stack or s.node_exporter == "host":
            service = "container" if in_stack else "host"
            targets.append(
                {"name": s.name, "address": s.host.hostname, "role": s.role, "service": service}
            )
    values["monitoring_targets"] = targets
    return values


def _dns_servers(host: Host, values: Mapping[str, Any], dns: Sequence[Host]) -> list[str]:
    """``internal_dns: bind``: the servers the containers ask (Docker's ``dns:`` takes IPs)."""
    import ipaddress

    listed = values.get("internal_dns_servers")
    if listed:
        return [str(a) for a in listed]
    if not dns:
        raise ConfigError(
            f"{host.name}: internal_dns: bind needs a host with role dns or internal_dns_servers"
        )
    try:
        return [str(ipaddress.ip_address(str(dns[0].hostname)))]
    except ValueError:
        raise ConfigError(
            f"{host.name}: internal_dns: bind: the dns host {dns[0].name}'s address "
            f"{dns[0].hostname!r} is not an IP address (compose dns: needs one); set "
            "internal_dns_servers"
        ) from None


def _qdrant_host(compute: list[SiteHost], choice: object) -> SiteHost:
    """The compute host named by ``qdrant_host`` (default: the first compute host)."""
    if choice is None:
        return compute[0]
    for h in compute:
        if h.name == choice:
            return h
    names = ", ".join(h.name for h in compute)
    raise ConfigError(f"qdrant_host: {choice!r} is not a compute host (compute hosts: {names})")
