"""The light lab nodes (``lab up --hosts N --light``): addresses, limits, what is saved.

Pure parts only (no namespace is created): the nodes' addresses stay inside TEST-NET-3 and
never touch this machine's 192.0.2.0/24, the limits name what is wrong, and the suite's own
guard allows the lab's /26 only (no test starts light nodes).
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest
from conftest import ALLOWED, LAB_CONFIG

from nornir_homehub.errors import LabError
from nornir_homehub.lab import Lab
from nornir_homehub.lab.inventory import extra_nodes
from nornir_homehub.lab.model import SCALE_SUBNET, SUBNET

HOSTS_FILE = LAB_CONFIG.parent / "hosts.yaml"
MACHINE = ipaddress.ip_network("192.0.2.0/24")


def test_200_light_nodes_get_distinct_test_net_2_addresses_without_docker() -> None:
    nodes = extra_nodes(200, light=True)
    addrs = [ipaddress.ip_address(n.address) for n in nodes]
    assert len(set(addrs)) == 200
    assert all(a in SCALE_SUBNET and a not in MACHINE for a in addrs)
    assert str(addrs[0]) == "203.0.113.10" and str(addrs[-1]) == "203.0.113.209"
    assert [n.name for n in nodes[:2]] == ["node01", "node02"] and nodes[-1].name == "node200"
    assert not any(n.docker for n in nodes)
    assert {n.prefixlen for n in nodes} == {24}
    # Every veth name fits the kernel's 15 characters.
    assert max(len(f"hv-{n.name}") for n in nodes) <= 15


def test_docker_nodes_keep_their_addresses_in_the_lab_26() -> None:
    nodes = extra_nodes(45)
    assert all(ipaddress.ip_address(n.address) in SUBNET for n in nodes)
    assert all(n.docker and n.prefixlen == 26 for n in nodes)
    assert nodes[0].address == "192.0.2.141"


@pytest.mark.parametrize(
    ("extra", "light", "message"),
    [
        (46, False, "at most 48 hosts with nodes with Docker"),
        (241, True, "at most 243 hosts with light nodes"),
    ],
)
def test_too_many_nodes_is_refused_with_the_limit(
    tmp_path: Path, extra: int, light: bool, message: str
) -> None:
    with pytest.raises(LabError, match=message):
        Lab(tmp_path / "lab", HOSTS_FILE, extra_hosts=extra, light=light)


def test_a_light_lab_is_remembered_until_hosts_are_given_again(tmp_path: Path) -> None:
    lab_dir = tmp_path / "lab"
    lab_dir.mkdir()
    (lab_dir / "state.json").write_text(json.dumps({"extra_hosts": 200, "light": True}))
    again = Lab(lab_dir, HOSTS_FILE)
    assert again.light and len(again.hosts) == 203
    assert not Lab(lab_dir, HOSTS_FILE, extra_hosts=2).light
    # A state file from before --light existed: Docker nodes.
    (lab_dir / "state.json").write_text(json.dumps({"extra_hosts": 2}))
    assert not Lab(lab_dir, HOSTS_FILE).light


def test_the_suite_allows_the_lab_26_only_and_nothing_of_the_machine_network() -> None:
    assert SUBNET in ALLOWED
    for ip in ("192.0.2.1", "192.0.2.2", "10.2.0.10", "203.0.113.10"):
        assert not any(ipaddress.ip_address(ip) in net for net in ALLOWED)
