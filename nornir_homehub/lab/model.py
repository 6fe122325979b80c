"""The lab's hosts and addresses, and what `Lab.status` reports about them."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from nornir_homehub.records import as_dict

BRIDGE = "hhbr0"
BRIDGE_ADDR = "192.0.2.129/26"
SUBNET = ipaddress.ip_network("192.0.2.128/26")
NS_PREFIX = "hh-"
EXTRA_FIRST = 141  # extra nodes (lab up --hosts N) get 192.0.2.141 and up
MAX_EXTRA = 45  # nodes with a Docker Engine: 192.0.2.141-.185 inside the /26
# Light nodes (lab up --hosts N --light: sshd only, for the controller scale simulation) need
# more addresses than the /26 holds. They get TEST-NET-3 (RFC 5737, documentation only, never
# routed) on the same bridge: away from this machine's 192.0.2.0/24 (.1 the gateway, .2 eth0).
SCALE_SUBNET = ipaddress.ip_network("203.0.113.0/24")
SCALE_BRIDGE_ADDR = "203.0.113.1/24"
SCALE_FIRST = 10  # light node01 is 203.0.113.10
MAX_LIGHT = 240  # 203.0.113.10-.249
DOCKER_ROLES = {"trusted", "compute", "node"}
# Inside every host's own network namespace (invisible elsewhere): docker0 and compose networks.
DOCKER_BIP = "192.0.2.17/28"
DOCKER_POOL = "192.0.2.64/26"
# The lab registry (Distribution) listens on the dns host's address, plain HTTP.
REGISTRY_PORT = 5000


@dataclass(frozen=True)
class LabHost:
    """One lab host as the inventory declares it."""

    name: str
    address: str
    role: str
    light: bool = False

    @property
    def prefixlen(self) -> int:
        """The prefix length of the host's address on the bridge."""
        scale = ipaddress.ip_address(self.address) in SCALE_SUBNET
        return SCALE_SUBNET.prefixlen if scale else SUBNET.prefixlen

    @property
    def netns(self) -> str:
        """The network namespace name."""
        return f"{NS_PREFIX}{self.name}"

    @property
    def docker(self) -> bool:
        """True when the host runs a Docker Engine (never a light node)."""
        return self.role in DOCKER_ROLES and not self.light


@dataclass
class HostStatus:
    """What `Lab.status` reports for one host."""

    name: str
    address: str
    role: str
    state: str
    sshd_pid: int | None
    sshd_log: str
    dockerd_pid: int | None = None
    dockerd_log: str | None = None
    named_pid: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return dict(self.__dict__)


@dataclass
class LabStatus:
    """The lab as a whole."""

    up: bool
    lab_dir: str
    bridge: str
    bridge_present: bool
    hosts: list[HostStatus] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return as_dict(self)
