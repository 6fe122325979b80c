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
STATE_FILE = "/etc/bind/zones/.db.homehub.test.managed.json"
RESET = (
    "sed -i '/^\\/\\/ BEGIN nornir_homehub zone homehub.test/,"
    "/^\\/\\/ END nornir_homehub zone homehub.test/d;"
    "/^\\/\\/ BEGIN hand-made zone/,/^\\/\\/ END hand-made zone/d' /etc/bind/named.conf.local && "
    f"rm -f {ZONE_FILE} {ZONE_FILE}.bak {STATE_FILE} /etc/bind/zones/.db.homehub.test.candidate "
    "/etc/bind/zones/hand-extra.db && rndc reconfig"
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
    from nornir_homehub.tasks.named import query

    return query(DNS_ADDRESS, f"{name}.{ZONE}.", rdtype, port=53, timeout=2.0)


def served() -> int | None:
    from nornir_homehub.tasks.named import served_serial

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
    assert "+ chat CNAME trusted.homehub.test." in dry.stdout
    assert f"serial none -> {today_serial}: new zone" in dry.stdout
    assert on_dns(f"test -e {STATE_FILE}").exit_code == 1, "dry-run must not write the state"
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
    state = json.loads(on_dns(f"cat {STATE_FILE}").stdout)
    assert state["serial_high"] == today_serial
    assert {"name": "chat", "type": "CNAME", "value": "trusted.homehub.test.", "ttl": 3600} in (
        state["records"]
    )

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
    assert "+ grafana CNAME trusted.homehub.test. (ttl 3600)  [dns_records]" in res.diff

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


# -- a hand-made zone: adopted, foreign records kept, unsafe plans refused --------------------

HAND_ZONE = """\
; homehub.test: the site's zone, maintained by hand (lab test)
$ORIGIN homehub.test.
$TTL 3600
@       IN SOA  ns1.homehub.test. hostmaster.homehub.test. (
                2025010101 ; serial
                3600       ; refresh
                900        ; retry
                1209600    ; expire
                300 )      ; negative caching TTL
        IN NS   ns1
        IN MX   10 mail     ; the only mail exchanger
ns1     IN A    192.0.2.133
mail    IN A    192.0.2.140
nas 600 IN A    192.0.2.141 ; the NAS
        IN TXT  "backup; nightly"
; vLLM was removed in October, this record stayed behind
vllm    IN CNAME compute
chat    IN CNAME trusted
$INCLUDE /etc/bind/zones/hand-extra.db
$GENERATE 1-3 dhcp-$ A 192.0.2.16$
"""
HAND_INCLUDE = "printer IN A 192.0.2.150 ; 2nd floor\n"
HAND_STANZA = (
    "// BEGIN hand-made zone (lab test)\n"
    f'zone "homehub.test" {{ type master; file "{ZONE_FILE}"; }};\n'
    "// END hand-made zone\n"
)
# The foreign records as named serves them: (name, type) -> (TTL, values).
FOREIGN = {
    ("@", "NS"): None,  # the inventory's dns host is added beside ns1: checked separately
    ("@", "MX"): (3600, ("10 mail.homehub.test.",)),
    ("ns1", "A"): (3600, ("192.0.2.133",)),
    ("mail", "A"): (3600, ("192.0.2.140",)),
    ("nas", "A"): (600, ("192.0.2.141",)),
    ("nas", "TXT"): (3600, ('"backup; nightly"',)),
    ("printer", "A"): (3600, ("192.0.2.150",)),
    ("dhcp-2", "A"): (3600, ("192.0.2.162",)),
}


def rrset(name: str, rdtype: str) -> tuple[str, int | None, tuple[str, ...]]:
    """(rcode, TTL, values) of what the lab's named serves for ``name``/``rdtype``."""
    import dns.flags
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype

    fqdn = ZONE + "." if name == "@" else f"{name}.{ZONE}."
    msg = dns.message.make_query(fqdn, rdtype)
    msg.flags &= ~dns.flags.RD
    resp = dns.query.udp(msg, DNS_ADDRESS, port=53, timeout=2.0)
    for rr in resp.answer:
        if rr.rdtype == dns.rdatatype.from_text(rdtype):
            return dns.rcode.to_text(resp.rcode()), rr.ttl, tuple(sorted(r.to_text() for r in rr))
    return dns.rcode.to_text(resp.rcode()), None, ()


def foreign_served() -> dict[tuple[str, str], tuple[int | None, tuple[str, ...]]]:
    return {k: rrset(*k)[1:] for k in FOREIGN if k != ("@", "NS")}


def wait_served(serial: int, timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while served() != serial:
        assert time.monotonic() < deadline, (
            f"named did not serve serial {serial} (serves {served()})"
        )
        time.sleep(0.2)


def host_files() -> dict[str, str]:
    """sha256 of the zone, include and state files on the dns host ('-' when missing)."""
    out = on_dns(
        f"for f in {ZONE_FILE} /etc/bind/zones/hand-extra.db {STATE_FILE}; do "
        'if [ -e "$f" ]; then sha256sum "$f"; else echo "- $f"; fi; done'
    ).stdout
    return {line.split()[1]: line.split()[0] for line in out.splitlines()}


@pytest.fixture
def hand_made(fresh_dns: None) -> Iterator[None]:
    """The dns host serves a hand-made zone (with $INCLUDE and $GENERATE) of its own stanza."""
    script = (
        "mkdir -p /etc/bind/zones && "
        f"cat > {ZONE_FILE} <<'EOF'\n{HAND_ZONE}EOF\n"
        f"cat > /etc/bind/zones/hand-extra.db <<'EOF'\n{HAND_INCLUDE}EOF\n"
        f"chmod 0644 {ZONE_FILE} /etc/bind/zones/hand-extra.db && "
        f"cat >> /etc/bind/named.conf.local <<'EOF'\n{HAND_STANZA}EOF\n"
        "named-checkconf && rndc reconfig"
    )
    res = on_dns(script)
    assert res.ok, res.stdout + res.stderr
    wait_served(2025010101)
    assert foreign_served() == {k: v for k, v in FOREIGN.items() if v is not None}
    yield
    # Later tests start from the lab inventory's own zone.
    assert on_dns(RESET).ok
    res = deploy()
    assert not res.failed, res.exception


def test_hand_made_zone_is_adopted_and_its_records_kept(hand_made: None) -> None:
    today_serial = next_serial(2025010101, dt.date.today())[0]
    before = host_files()

    dry = run_cli("dns", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    for line in (
        "- vllm CNAME compute.homehub.test. (ttl 3600)  [dns_absent: removed whoever wrote it]",
        "+ openai CNAME trusted.homehub.test. (ttl 3600)  [public_services]",
        "+ ollama CNAME compute.homehub.test. (ttl 3600)  [internal_services]",
        "~ @ NS ns1.homehub.test. (ttl 3600) -> dns.homehub.test., ns1.homehub.test. (ttl 3600)",
        "= adopted 1 existing record(s): chat CNAME",
        "kept 10 foreign record(s) unchanged",
        f"serial 2025010101 -> {today_serial}",
    ):
        assert line in dry.stdout, dry.stdout
    assert host_files() == before, "a dry run changes no file"
    assert served() == 2025010101

    out = run_cli("dns", "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    task = report["hosts"]["dns"]["tasks"][0]
    plan = task["result"]["plan"]
    assert [c["name"] for c in plan["removed"]] == ["vllm"]
    assert {c["name"] for c in plan["added"]} == {
        "trusted",
        "compute",
        "dns",
        "openai",
        "ollama",
        "qdrant",
    }
    assert plan["foreign_kept"] == 10
    assert (plan["serial_before"], plan["serial"]) == (2025010101, today_serial)
    assert task["result"]["actions"] == ["reload homehub.test"], "the operator's stanza is kept"

    assert served() == today_serial
    assert foreign_served() == {k: v for k, v in FOREIGN.items() if v is not None}
    assert rrset("@", "NS")[2] == ("dns.homehub.test.", "ns1.homehub.test.")
    assert rrset("vllm", "CNAME")[0] == "NXDOMAIN"
    for name in ("chat", "openai"):
        assert ask(name, "CNAME").values == ("trusted.homehub.test.",)
    for name in ("ollama", "qdrant"):
        assert ask(name, "CNAME").values == ("compute.homehub.test.",)
    text = on_dns(f"cat {ZONE_FILE}").stdout
    for line in (
        "nas 600 IN A    192.0.2.141 ; the NAS",
        '        IN TXT  "backup; nightly"',
        "        IN MX   10 mail     ; the only mail exchanger",
        "$INCLUDE /etc/bind/zones/hand-extra.db",
        "$GENERATE 1-3 dhcp-$ A 192.0.2.16$",
        "; vLLM was removed in October, this record stayed behind",
    ):
        assert line in text.splitlines(), text
    after = host_files()
    assert after["/etc/bind/zones/hand-extra.db"] == before["/etc/bind/zones/hand-extra.db"]
    assert after[STATE_FILE] != "-"
    assert verify()["dns.serial"].status == "pass"

    again = run_cli("dns", "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    stages = {s["name"]: s for s in json.loads(again.stdout)["stages"]}
    assert stages["dns"]["changed_hosts"] == []
    assert served() == today_serial, "a second run does not change the serial"
    assert host_files() == after


def test_deleting_a_foreign_record_needs_prune(hand_made: None, lab_copy: Path) -> None:
    config = edit_copy(lab_copy, dns_records=[{"name": "nas", "type": "A", "value": "192.0.2.150"}])
    before = host_files()

    for args in (("--dry-run",), ()):
        out = run_cli("dns", "--json", *args, config=config)
        assert out.returncode == 1, out.stdout + out.stderr
        report = json.loads(out.stdout)
        task = report["hosts"]["dns"]["tasks"][0]
        assert task["failed"] is True
        assert task["error"]["type"] == "UnsafeZonePlan"
        assert task["error"]["layer"] == "dns"
        assert "would replace 192.0.2.141 (written by someone else)" in task["error"]["message"]
        assert "--prune" in task["error"]["message"]
        refusals = task["result"]["plan"]["refusals"]
        assert [(r["allowed_by"], r["overridden"]) for r in refusals] == [("--prune", False)]
        assert report["stopped_at"]["stage"] == "dns"
        assert host_files() == before, "a refused plan changes nothing"
        assert served() == 2025010101
        assert rrset("nas", "A")[1:] == (600, ("192.0.2.141",))
    assert "REFUSED (rerun with --prune to allow it)" in run_cli("dns", config=config).stdout

    out = run_cli("dns", "--prune", config=config)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "allowed by --prune: nas A: would replace 192.0.2.141" in out.stdout
    assert rrset("nas", "A")[1:] == (3600, ("192.0.2.150",))
    assert rrset("nas", "TXT")[1:] == FOREIGN[("nas", "TXT")]
    assert rrset("mail", "A")[1:] == FOREIGN[("mail", "A")]


def test_a_conflicting_foreign_record_needs_force(hand_made: None, lab_copy: Path) -> None:
    config = edit_copy(
        lab_copy, dns_records=[{"name": "mail", "type": "CNAME", "value": "trusted"}]
    )
    before = host_files()
    out = run_cli("dns", "--prune", config=config)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "REFUSED (rerun with --force to allow it): mail: the inventory wants mail CNAME" in (
        out.stdout
    )
    assert host_files() == before
    assert rrset("mail", "A")[1:] == FOREIGN[("mail", "A")]

    out = run_cli("dns", "--force", "--diff", config=config)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "-mail    IN A    192.0.2.140" in out.stdout, "--diff shows the file's text diff"
    assert ask("mail", "CNAME").values == ("trusted.homehub.test.",)
    assert rrset("nas", "A")[1:] == FOREIGN[("nas", "A")]


def test_filter_role_dns_uses_the_whole_inventory(deployed: int) -> None:
    """deploy/verify --filter role=dns build the zone from every host, not the selected one."""
    out = run_cli("deploy", "--filter", "role=dns", "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    assert {s["name"] for s in report["stages"]} >= {"dns", "verify dns"}
    assert report["hosts"].keys() == {"dns"}
    assert served() == deployed, "the whole inventory's zone is already there: no change"
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["dns.chat"]["status"] == "pass"
    assert checks["dns.ollama"]["status"] == "pass"

    out = run_cli("verify", "--filter", "role=dns", "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    checks = {c["name"]: c for c in json.loads(out.stdout)["checks"]}
    assert {"dns.chat", "dns.openai", "dns.ollama", "dns.qdrant", "dns.trusted"} <= set(checks)
    assert all(c["status"] == "pass" for c in checks.values()), checks
