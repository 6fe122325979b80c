"""The lab's inventory: the hosts it reads, the inventory and config it writes for them."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

import yaml

from nornir_homehub.errors import LabError
from nornir_homehub.lab.model import SUBNET, LabHost

if TYPE_CHECKING:
    from pathlib import Path


def read_lab_hosts(hosts_file: Path) -> list[LabHost]:
    """Read lab hosts (name, address, role) from the lab inventory's hosts.yaml.

    Raises:
        LabError: a host lies outside the lab subnet (the lab never touches other addresses).
    """
    raw = yaml.safe_load(hosts_file.read_text()) or {}
    hosts = []
    for name, spec in raw.items():
        address = str(spec.get("hostname"))
        if ipaddress.ip_address(address) not in SUBNET:
            raise LabError(f"{hosts_file}: host {name} address {address} is outside {SUBNET}")
        role = str((spec.get("data") or {}).get("role", "node"))
        hosts.append(LabHost(name, address, role))
    return hosts
