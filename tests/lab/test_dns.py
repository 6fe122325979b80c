"""The homehub zone on the lab's BIND9 host: create, no-op, add a record, refuse a broken one.

Every test starts from a state it sets up itself: ``fresh_dns`` puts the dns host back to a
fresh Debian bind9 install (no homehub stanza, no zone file); inventory changes are made on a
private copy of the lab inventory (``lab_copy``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from nornir_homehub.plan.serial import next_serial
from tests.conftest import LAB_CONFIG, run_cli

ZONE = "homehub.test"
ZONE_FILE = "/etc/bind/zones/db.homehub.test"
DNS_ADDRESS = "192.0.2.133"
RESET = (
    "sed -i '/^\\/\\/ BEGIN nornir_homehub zone homehub.test/,"
    "/^\\/\\/ END nornir_homehub zone homehub.test/d' /etc/bind/named.conf.local && "
    f"rm -f {ZONE_FILE} {ZONE_FILE}.bak /etc/bind/zones/.db.homehub.test.candidate && "
    "rndc reconfig"
)


def on_dns(command: str, config: Path = LAB_CONFIG) -> Any:
    """Run a shell command on the lab's dns host; return the CommandResult."""
    from nornir_homehub.config import load_nornir
    from nornir_homehub.connection import close_all
    from nornir_homehub.tasks.exec import run_command

    nr = load_nornir(config).filter(role="dns")
    try:
        agg = nr.run(task=run_command, command=command)
    finally:
        close_all(nr)
    return agg["dns"][0].result


def deploy(config: Path = LAB_CONFIG, **kw: Any) -> Any:
    """Run deploy_zone on the dns host of ``config``; return the Nornir Result."""
    from nornir_homehub.config import load_nornir
    from nornir_homehub.connection import close_all
    from nornir_homehub.tasks.dns import deploy_zone

    nr = load_nornir(config).filter(role="dns")
    try:
        agg = nr.run(task=deploy_zone, **kw)
    finally:
        close_all(nr)
    return agg["dns"][0]


def verify(config: Path = LAB_CONFIG) -> dict[str, Any]:
    from nornir_homehub.config import load_nornir
    from nornir_homehub.connection import close_all
    from nornir_homehub.tasks.dns import check_zone

    nr = load_nornir(config).filter(role="dns")
    try:
        res = nr.run(task=check_zone)["dns"][0]
    finally:
        close_all(nr)
    return {c.name: c for c in res.result}


def ask(name: str, rdtype: str) -> Any:
    """Query the lab dns host from the controller, the way a client would."""
    from nornir_homehub.tasks.dns import query

    return query(DNS_ADDRESS, f"{name}.{ZONE}.", rdtype, port=53, timeout=2.0)


def served() -> int | None:
    from nornir_homehub.tasks.dns import served_serial

    return served_serial(DNS_ADDRESS, ZONE, port=53, timeout=2.0)


def edit_copy(config: Path, **data: Any) -> Path:
    defaults_path = config.parent / "defaults.yaml"
    defaults = yaml.safe_load(defaults_path.read_text())
    defaults["data"].update(data)
    defaults_path.write_text(yaml.safe_dump(defaults, sort_keys=False))
    return config


@pytest.fixture
def fresh_dns(lab: Any) -> None:
    """The dns host as a fresh bind9 install: named running, no homehub zone."""
    res = on_dns(RESET)
    assert res.ok, res.stderr
    assert served() is None


@pytest.fixture
def deployed(lab: Any) -> Iterator[int]:
    """The lab inventory's zone deployed and served; returns the served serial.

    Afterwards the lab inventory's zone is deployed again, so records a test added with an
    edited inventory copy do not leak into later tests.
    """
    res = deploy()
    assert not res.failed, res.exception
    serial = served()
    assert serial is not None
    yield serial
    res = deploy()
    assert not res.failed, res.exception


def test_dry_run_then_first_run_creates_the_zone_then_second_run_is_a_noop(fresh_dns: None) -> None:
    today_serial = next_serial(None, dt.date.today())[0]

    dry = run_cli("dns", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "+chat" in dry.stdout
    assert f"serial {today_serial}" in dry.stdout
    assert on_dns(f"test -e {ZONE_FILE}").exit_code == 1, "dry-run must not write the zone"
    assert served() is None

    first = deploy()
    assert not first.failed, first.exception
    assert first.changed
    assert first.result.plan.created
    assert first.result.actions == ("reconfig",)
    assert first.result.served_serial == today_serial
    for name in ("chat", "openai"):
        assert ask(name, "CNAME").values == ("trusted.homehub.test.",)
    for name in ("ollama", "qdrant"):
        assert ask(name, "CNAME").values == ("compute.homehub.test.",)
    assert ask("trusted", "A").values == ("192.0.2.131",)
    assert ask("vllm", "A").rcode == "NXDOMAIN"
    assert 'zone "homehub.test"' in on_dns("cat /etc/bind/named.conf.local").stdout

    second = deploy()
    assert not second.failed, second.exception
    assert not second.changed
    assert second.diff == ""
    assert second.result.plan.serial == today_serial
    assert served() == today_serial
    assert (
        on_dns("grep -c 'zone \"homehub.test\"' /etc/bind/named.conf.local").stdout.strip() == "1"
    )

    checks = verify()
    assert all(not c.failed for c in checks.values()), [c.to_dict() for c in checks.values()]
    assert {"dns.chat", "dns.ollama", "dns.absent.vllm", "dns.serial"} <= set(checks)


def test_cli_second_run_reports_no_change(deployed: int) -> None:
    out = run_cli("dns", "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    assert report["ok"] is True
    stages = {s["name"]: s for s in report["stages"]}
    assert stages["dns"]["changed_hosts"] == []
    assert stages["dns verify"]["failed_hosts"] == []
    assert served() == deployed


def test_added_record_bumps_serial_once_and_is_served(deployed: int, lab_copy: Path) -> None:
    config = edit_copy(
        lab_copy, dns_records=[{"name": "grafana", "type": "CNAME", "value": "trusted"}]
    )
    before = verify(config)
    assert before["dns.grafana"].failed
    assert "python -m nornir_homehub dns" in before["dns.grafana"].remedy

    res = deploy(config)
    assert not res.failed, res.exception
    expected = next_serial(deployed, dt.date.today())[0]
    assert res.changed
    assert res.result.plan.serial == expected
    assert res.result.actions == (f"reload {ZONE}",)
    assert ask("grafana", "CNAME").values == ("trusted.homehub.test.",)
    assert served() == expected
    assert "+grafana" in res.diff

    again = deploy(config)
    assert not again.changed
    assert served() == expected
    assert on_dns(f"test -e {ZONE_FILE}.bak").ok, "the previous zone file is kept as a backup"


@pytest.mark.parametrize(
    ("record", "why", "code"),
    [
        # refused by dnspython when the zone is planned offline: a config error, no host touched
        ({"name": "broken", "type": "A", "value": "999.1.1.1"}, "broken A", 2),
        # dnspython accepts it; named-checkzone (check-names fail) refuses it on the host
        ({"name": "bad_name", "type": "A", "value": "192.0.2.150"}, "bad_name", 1),
    ],
    ids=["dnspython", "named-checkzone"],
)
def test_broken_record_changes_nothing(
    deployed: int, lab_copy: Path, record: dict[str, Any], why: str, code: int
) -> None:
    content = on_dns(f"cat {ZONE_FILE}").stdout
    config = edit_copy(lab_copy, dns_records=[record])

    out = run_cli("dns", config=config)
    assert out.returncode == code, out.stdout + out.stderr
    assert why in out.stdout + out.stderr

    assert on_dns(f"cat {ZONE_FILE}").stdout == content
    assert on_dns("ls -a /etc/bind/zones").stdout.count("candidate") == 0
    assert served() == deployed
    assert ask("chat", "CNAME").values == ("trusted.homehub.test.",)


def test_absent_name_declared_present_is_refused(deployed: int, lab_copy: Path) -> None:
    config = edit_copy(lab_copy, public_services=["chat", "openai", "vllm"])
    res = deploy(config)
    assert res.failed
    assert "vllm.homehub.test is declared absent" in str(res.exception)
    assert ask("vllm", "A").rcode == "NXDOMAIN"
    assert served() == deployed
