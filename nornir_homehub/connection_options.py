"""The connection options (inventory ``connection_options.<plugin>.extras``), declared as data.

Each option has a kind (what values are valid), a default and a description, in the manner of
pyinfra's connector data. Validation at load (`check_extras`) refuses unknown or misspelt keys
with a "did you mean" and checks every value, so a typo such as ``conect_timeout`` is an error
instead of a silently ignored setting. ``connection.py`` reads the same keys; a key it learns
must be declared here too.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nornir_homehub.problems import show, type_name, unknown

SSH_PLUGIN = "homehub_ssh"
LOCAL_PLUGIN = "homehub_local"

# Set by the loader (config._merge_connection_extras), never by the inventory.
INTERNAL_EXTRAS = frozenset({"inventory_name"})

_IFACE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Kind(enum.Enum):
    """What values an option takes."""

    PATH = "path"  # a non-empty string: a file on the controller (~ expanded)
    SECONDS = "seconds"  # a positive number
    SECONDS_OR_OFF = "seconds or 0"  # a number >= 0, 0 turning the feature off
    INTERFACE = "interface"  # a network interface name (max. 15 characters)
    NAMES = "names"  # a list of environment variable names


@dataclass(frozen=True)
class ConnectionOption:
    """One declared connection extra.

    Attributes:
        name: the key under ``extras``.
        kind: what values it takes.
        default: the value used when it is not set (None: see the description).
        description: what it does, for messages and docs.
    """

    name: str
    kind: Kind
    default: Any
    description: str

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not valid for this option, or None when it is."""
        if value is None:
            return None
        if self.kind in (Kind.SECONDS, Kind.SECONDS_OR_OFF):
            return _seconds_problem(value, zero_ok=self.kind is Kind.SECONDS_OR_OFF)
        if self.kind is Kind.NAMES:
            return _names_problem(value)
        if not isinstance(value, str) or not value.strip():
            what = "a file path" if self.kind is Kind.PATH else "an interface name"
            return f"must be {what} (a non-empty string), got {_shown(value)}"
        if self.kind is Kind.INTERFACE and not _IFACE_RE.match(value):
            return f"{show(value)} is not a network interface name"
        return None


def _seconds_problem(value: Any, *, zero_ok: bool) -> str | None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok):
        need = "a number of seconds >= 0 (0: off)" if zero_ok else "a positive number of seconds"
        return f"must be {need}, got {_shown(value)}"
    return None


def _names_problem(value: Any) -> str | None:
    if isinstance(value, list) and all(isinstance(v, str) and _ENV_RE.match(v) for v in value):
        return None
    return f"must be a list of environment variable names, got {_shown(value)}"


def _shown(value: Any) -> str:
    return show(value) if isinstance(value, int | float | str) else type_name(value)


_COMMAND_TIMEOUT = ConnectionOption(
    "command_timeout", Kind.SECONDS, 300.0, "seconds a remote command may run before it is stopped"
)

SSH_OPTIONS: tuple[ConnectionOption, ...] = (
    ConnectionOption(
        "known_hosts",
        Kind.PATH,
        "~/.ssh/known_hosts",
        "file the host key must be listed in (unknown keys are refused, never accepted)",
    ),
    ConnectionOption(
        "key_file",
        Kind.PATH,
        None,
        "private key; default: IdentityFile from ssh_config, else paramiko's default keys",
    ),
    ConnectionOption(
        "ssh_config",
        Kind.PATH,
        "~/.ssh/config",
        "ssh config file read for HostName, Port, User and IdentityFile",
    ),
    ConnectionOption("connect_timeout", Kind.SECONDS, 10.0, "seconds to connect and authenticate"),
    _COMMAND_TIMEOUT,
    ConnectionOption(
        "keepalive_interval",
        Kind.SECONDS_OR_OFF,
        5.0,
        "seconds between SSH keepalives the server must answer (0: none)",
    ),
    ConnectionOption(
        "keepalive_timeout",
        Kind.SECONDS,
        15.0,
        "seconds a keepalive may stay unanswered before the connection counts as lost",
    ),
    ConnectionOption(
        "lab_bridge",
        Kind.INTERFACE,
        None,
        "when set, the address must be routed over this bridge (the lab's safety check)",
    ),
)

LOCAL_OPTIONS: tuple[ConnectionOption, ...] = (
    _COMMAND_TIMEOUT,
    ConnectionOption(
        "env_keep",
        Kind.NAMES,
        (),
        "environment variables passed to local commands besides the scrubbed minimum "
        "(never the vault password or HOMEHUB_SECRET_*)",
    ),
)

OPTIONS: Mapping[str, tuple[ConnectionOption, ...]] = {
    SSH_PLUGIN: SSH_OPTIONS,
    LOCAL_PLUGIN: LOCAL_OPTIONS,
}

# The extras whose value is a file path, resolved against the inventory file naming them.
PATH_EXTRAS = tuple(o.name for o in SSH_OPTIONS if o.kind is Kind.PATH)


def check_extras(plugin: str, extras: Mapping[Any, Any]) -> list[tuple[str, str]]:
    """Problems of one ``extras`` mapping as ``(key, message)`` pairs (empty when valid).

    An unknown plugin has no declared options: every key passes (the plugin is checked
    elsewhere).
    """
    declared = OPTIONS.get(plugin)
    if declared is None:
        return []
    by_name = {o.name: o for o in declared}
    out: list[tuple[str, str]] = []
    for key, value in extras.items():
        option = by_name.get(key) if isinstance(key, str) else None
        if option is None:
            out.append((str(key), unknown(f"{plugin} extra", key, by_name)))
            continue
        problem = option.problem(value)
        if problem:
            out.append((str(key), problem))
    return out
