"""The whole inventory despite ``--filter``: `all_hosts`, and the site values derived from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nornir import InitNornir

from nornir_homehub.config import load_nornir
from nornir_homehub.inventory import all_hosts, apply_filters, parse_filters, site_vars

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "inventory" / "lab"


def _plain_nornir(hosts_file: Path) -> Any:
    """A Nornir object built without `load_nornir` (a user's own InitNornir): no record."""
    return InitNornir(
        inventory={
            "plugin": "SimpleInventory",
            "options": {
                "host_file": str(hosts_file),
                "group_file": str(LAB / "groups.yaml"),
                "defaults_file": str(LAB / "defaults.yaml"),
            },
        },
        runner={"plugin": "serial"},
        logging={"enabled": False},
    )


def test_a_filtered_run_sees_every_host_and_derives_values_from_them() -> None:
    nr = apply_filters(load_nornir(LAB / "config.yaml"), parse_filters(["role=trusted"]))
    assert list(nr.inventory.hosts) == ["trusted"]
    assert list(all_hosts(nr)) == ["trusted", "compute", "dns"]
    values = site_vars(nr, nr.inventory.hosts["trusted"])
    # The trusted host's containers reach the compute host, which --filter did not select.
    assert values["ai_compute_ip"] == "192.0.2.132"
    assert values["extra_hosts"] == {
        "ollama.homehub.test": "192.0.2.132",
        "qdrant.homehub.test": "192.0.2.132",
    }


def test_without_a_record_reload_reads_the_inventory_files_again() -> None:
    nr = _plain_nornir(LAB / "hosts.yaml").filter(role="dns")
    assert list(all_hosts(nr)) == ["dns"]
    assert list(all_hosts(nr, reload=True)) == ["trusted", "compute", "dns"]


def test_a_reload_that_fails_falls_back_to_the_selected_hosts(tmp_path: Path) -> None:
    hosts_file = tmp_path / "hosts.yaml"
    hosts_file.write_text((LAB / "hosts.yaml").read_text())
    nr = _plain_nornir(hosts_file).filter(role="dns")
    hosts_file.unlink()
    assert list(all_hosts(nr, reload=True)) == ["dns"]


def test_site_vars_with_the_index_read_once_equal_those_read_per_host() -> None:
    from nornir_homehub.inventory import site_index

    nr = load_nornir(LAB / "config.yaml")
    index = site_index(nr)
    assert [s.name for s in index] == list(all_hosts(nr))
    for host in nr.inventory.hosts.values():
        assert site_vars(nr, host, index=index) == site_vars(nr, host)


def test_with_the_index_site_vars_reads_no_other_host(monkeypatch: Any) -> None:
    # What makes rendering N hosts cost N reads of the inventory, not N x N.
    from nornir.core.inventory import Host

    from nornir_homehub.inventory import site_index

    nr = load_nornir(LAB / "config.yaml")
    index = site_index(nr)
    trusted = nr.inventory.hosts["trusted"]
    real_get = Host.get

    def only_trusted(self: Host, key: str, default: Any = None) -> Any:
        assert self is trusted, f"read {key} of {self.name}"
        return real_get(self, key, default)

    monkeypatch.setattr(Host, "get", only_trusted)
    values = site_vars(nr, trusted, index=index)
    assert values["ai_compute_ip"] == nr.inventory.hosts["compute"].hostname
    assert {t["name"] for t in values["monitoring_targets"]} >= {"compute"}
