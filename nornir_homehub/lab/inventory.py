"""The lab's inventory: the hosts it reads, and the known_hosts, inventory and config it writes.

The repository's (or the wheel's) lab inventory names the three base hosts; ``lab up``
writes a self-contained copy under the lab folder, with every path absolute and the extra
nodes of ``lab up --hosts N`` added, so ``homehub --config <lab dir>/inventory/config.yaml``
works wherever nornir_homehub is installed.
"""

from __future__ import annotations

import ipaddress
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from nornir_homehub.errors import LabError
from nornir_homehub.lab.model import EXTRA_FIRST, SCALE_FIRST, SCALE_SUBNET, SUBNET, LabHost

if TYPE_CHECKING:
    from collections.abc import Iterable


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


def extra_nodes(count: int, *, light: bool = False) -> list[LabHost]:
    """The extra compute-like nodes of ``lab up --hosts N``: node01 at 192.0.2.141 and up.

    ``light`` (``--light``): sshd-only nodes, node01 at 203.0.113.10 and up.
    """
    if light:
        first = SCALE_SUBNET.network_address + SCALE_FIRST
        return [
            LabHost(f"node{i:02d}", str(first + i - 1), "node", True) for i in range(1, count + 1)
        ]
    return [
        LabHost(f"node{i:02d}", str(SUBNET.network_address + EXTRA_FIRST - 128 + i - 1), "node")
        for i in range(1, count + 1)
    ]


def write_known_hosts(path: Path, host_keys: Iterable[tuple[LabHost, Path]]) -> None:
    """Write the lab's known_hosts: each host's address with its public host key file's key."""
    lines = []
    for h, pub_file in host_keys:
        pub = pub_file.read_text().split()
        lines.append(f"{h.address} {pub[0]} {pub[1]}")
    path.write_text("\n".join(lines) + "\n")


def write_inventory(
    hosts_file: Path,
    inv: Path,
    *,
    extra: Iterable[LabHost],
    lab_dir: Path,
    known_hosts: Path,
    key_file: Path,
) -> Path:
    """Write the lab's own config and inventory into ``inv``; return the config's path.

    Args:
        hosts_file: the source lab inventory's hosts.yaml (groups, defaults and config.yaml
            beside it).
        inv: the folder to write (``<lab dir>/inventory``).
        extra: extra nodes to add to the hosts.
        lab_dir: the lab folder (the config's ``lab_dir``; reports and runs go beside it).
        known_hosts: the lab's known_hosts (the connection extras point at it).
        key_file: the lab's private key.
    """
    inv.mkdir(parents=True, exist_ok=True)
    hosts = yaml.safe_load(hosts_file.read_text()) or {}
    for h in extra:
        hosts[h.name] = {
            "hostname": h.address,
            "groups": ["node"],
            "data": {"role": "node", "fqdn": f"{h.name}.lab", "gpu": None},
        }
    (inv / "hosts.yaml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    src = hosts_file.parent
    defaults = yaml.safe_load((src / "defaults.yaml").read_text()) or {}
    extras = defaults["connection_options"]["homehub_ssh"]["extras"]
    extras["known_hosts"] = str(known_hosts)
    extras["key_file"] = str(key_file)
    (inv / "defaults.yaml").write_text(yaml.safe_dump(defaults, sort_keys=False))
    cfg = yaml.safe_load((src / "config.yaml").read_text())
    cfg["inventory"]["options"] = {
        "host_file": str(inv / "hosts.yaml"),
        "group_file": str(src / "groups.yaml"),
        "defaults_file": str(inv / "defaults.yaml"),
    }
    hh = cfg.setdefault("homehub", {})
    for key in ("vault_file", "vault_password_file", "stacks_dir", "runbooks_dir"):
        if isinstance(hh.get(key), str) and not Path(hh[key]).is_absolute():
            hh[key] = str((src / hh[key]).resolve())
    # State next to the lab's own folder, wherever the lab's inventory came from.
    hh["lab_dir"] = str(lab_dir)
    hh["report_dir"] = str(lab_dir.parent / "reports")
    hh["history_dir"] = str(lab_dir.parent / "runs")
    config = inv / "config.yaml"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return config


def copy_inventory(config: Path, dest: Path) -> Path:
    """Copy the inventory of ``config`` (a lab config.yaml) to ``dest`` with absolute paths.

    The hosts, groups, defaults, vault and vault password file beside ``config`` are copied
    (those present); the connection extras' known_hosts and key_file and the config's string
    paths point back into the source folder. Returns the copy's config.yaml path.
    """
    src = config.parent
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("hosts.yaml", "groups.yaml", "defaults.yaml", "vault.yml", "vault_pass.txt"):
        if (src / name).exists():
            shutil.copy(src / name, dest / name)
    defaults = yaml.safe_load((dest / "defaults.yaml").read_text())
    extras = defaults["connection_options"]["homehub_ssh"]["extras"]
    for key in ("known_hosts", "key_file"):
        extras[key] = str((src / extras[key]).resolve())
    (dest / "defaults.yaml").write_text(yaml.safe_dump(defaults, sort_keys=False))
    cfg = yaml.safe_load(config.read_text())
    for key, value in list(cfg["homehub"].items()):
        if isinstance(value, str) and key not in ("vault_file", "vault_password_file"):
            cfg["homehub"][key] = str((src / value).resolve())
    (dest / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return dest / "config.yaml"


def lab_domain(hosts_file: Path) -> str:
    """The lab's domain (``data.domain`` of the lab inventory's defaults.yaml)."""
    defaults = yaml.safe_load((hosts_file.parent / "defaults.yaml").read_text()) or {}
    return str((defaults.get("data") or {}).get("domain", "homehub.test"))
