"""What is checked before a run touches any host: stack names, stack templates, the zone.

Everything here reads only the inventory and local files, and a mistake is a `ConfigError`
(exit 2) before the first connection, for the CLI and `HomeHub` alike.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nornir_homehub.errors import ConfigError, PlanError
from nornir_homehub.problems import did_you_mean

if TYPE_CHECKING:
    from nornir.core import Nornir

    from nornir_homehub.config import Settings
    from nornir_homehub.inventory import SiteHost
    from nornir_homehub.render import StacksPath
    from nornir_homehub.runbook_loader import Runbook


def parse_stacks(
    values: str | Collection[str] | None, stacks_dir: StacksPath, option: str = "--stacks"
) -> list[str] | None:
    """``--stacks a,b`` (repeatable) as a list of known stack names; None when not given.

    Raises:
        ConfigError: empty (an unset shell variable never means "every stack"), an empty name
            between commas, or an unknown stack (with "did you mean" and the valid ones).
    """
    from nornir_homehub.render import available_stacks

    if values is None or values == ():
        return None
    texts = [values] if isinstance(values, str) else list(values)
    names: list[str] = []
    for text in texts:
        parts = [p.strip() for p in text.split(",")]
        if not text.strip() or any(not p for p in parts):
            raise ConfigError(
                f"{option} {text!r}: empty stack name; give names like ollama,qdrant "
                "(an empty value never means every stack)"
            )
        names += [p for p in parts if p not in names]
    valid = available_stacks(stacks_dir)
    bad = [n for n in names if n not in valid]
    if bad:
        hints = "".join(did_you_mean(n, valid) for n in bad)
        listing = ", ".join(valid) or "none"
        raise ConfigError(
            f"{option}: unknown stack(s) {', '.join(bad)}{hints}; valid stacks: {listing}"
        )
    return names


def check_stacks(nr: Nornir, stacks_dir: StacksPath, only: list[str] | None) -> None:
    """Stack names and every selected host's template.yaml, before the run is recorded.

    For the runbooks that deploy or check stacks (they declare a ``stacks`` option).

    Raises:
        ConfigError: an unknown stack (with "did you mean") or a broken template.yaml.
    """
    from nornir_homehub.inventory import site_index, site_vars
    from nornir_homehub.render import stacks_for_host

    if only is not None:
        parse_stacks(",".join(only), stacks_dir)
    index = site_index(nr)
    for host in nr.inventory.hosts.values():
        stacks_for_host(site_vars(nr, host, index=index), stacks_dir, only)


def check_zone(nr: Nornir) -> None:
    """The zone each selected dns host would serve, derived from the inventory, is valid.

    Planned offline, before the run, so a broken ``dns_records`` entry is a configuration
    error (exit 2) instead of a failed task after the dns host was contacted.

    Raises:
        ConfigError: the inventory's DNS variables or records are invalid.
    """
    from nornir_homehub.inventory import all_hosts, hosts_by_role
    from nornir_homehub.tasks.dns import zone_spec_for

    everyone = all_hosts(nr)
    for host in hosts_by_role(nr.inventory.hosts, "dns"):
        try:
            zone_spec_for(host, everyone)
        except (ConfigError, PlanError) as exc:
            raise ConfigError(f"host {host.name}: the zone the inventory declares: {exc}") from None


def check_runbook_input(
    settings: Settings, nr: Nornir, book: Runbook, options: Mapping[str, Any]
) -> None:
    """Everything about a runbook's input that can be checked offline, before it runs.

    A runbook that declares a ``stacks`` option: the stack names and each selected host's
    template.yaml (`check_stacks`); the runbooks that deploy the zone: the zone (`check_zone`).

    Raises:
        ConfigError: what `check_stacks` and `check_zone` raise.
    """
    if any(o.name == "stacks" for o in book.options):
        check_stacks(nr, settings.stacks_path, options.get("stacks"))
    # The built-in runbooks that deploy the zone (deploy and rollout skip their DNS stage when
    # ``stacks`` narrows them).
    only = options.get("stacks")
    if book.name == "dns" or (book.name in ("deploy", "rollout") and only is None):
        check_zone(nr)


def needed_secrets(
    nr: Nornir,
    stacks_dir: Path | Sequence[Path],
    only: Collection[str] | None,
    *,
    index: Sequence[SiteHost] | None = None,
) -> set[str]:
    """The names of the secrets the selected hosts' stacks use (narrowed by ``only``).

    ``index``: the inventory's `site_index` when the caller read it already.

    Raises:
        ConfigError: an unknown stack or a broken template.yaml.
    """
    from nornir_homehub.inventory import site_index, site_vars
    from nornir_homehub.render import secret_names, stacks_for_host

    index = site_index(nr) if index is None else index
    needed: set[str] = set()
    for host in nr.inventory.hosts.values():
        variables = site_vars(nr, host, index=index)
        needed |= secret_names(stacks_for_host(variables, stacks_dir, only))
    return needed
