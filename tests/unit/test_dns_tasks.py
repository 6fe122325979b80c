"""The dns tasks through the scripted double, without the lab.

The dns host is a `ScriptedHost`: its facts batch, ``named-checkzone``, ``named-checkconf``,
the install command and rndc answer from a script (rndc's and named-checkzone's texts are the
BIND 9.18 captures of tests/unit/cases/parsers/), and its files live in memory. The queries the tasks
send to the dns host go to a STAND-IN for named on 127.0.0.1 (`named_double`), which serves the
zone file the host holds each time the script's ``rndc reconfig``/``rndc reload`` runs. Each
test asserts what a user would see on the host: the bytes and mode of the zone file, the
commands run, what named serves.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dns.rdatatype
import dns.zone
import pytest
import yaml
from named_double import LoopbackNamed, loopback_named

from nornir_homehub.errors import NamedNotRunning, ZoneRejected
from nornir_homehub.facts.dns import (
    NAMED_CONF_LOCAL,
    checkzone_command,
    dns_fact_commands,
    replace_with_backup_command,
)
from nornir_homehub.tasks.dns import check_zone, deploy_zone
from nornir_homehub.testing import Command, FileEntry, ScriptedHost, scripted_nornir

ZONE = "homehub.test"
ZONE_FILE = "/etc/bind/zones/db.homehub.test"
STATE_FILE = "/etc/bind/zones/.db.homehub.test.managed.json"
CANDIDATE = "/etc/bind/zones/.db.homehub.test.candidate"
NAMED_DIR = "/var/cache/bind"
TODAY = dt.date(2025, 10, 13)
CASES = Path(__file__).parent / "cases" / "parsers"


def _captured(path: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((CASES / path).read_text())["input"]
    return data


RNDC_UP = _captured("parse_rndc_status/01-up-bind-9.18.yaml")["stdout"]
RNDC_REFUSED = _captured("parse_rndc_status/02-connection-refused.yaml")["stderr"]
CHECKZONE_BAD = _captured("explain_checkzone/01-bad-address.yaml")["output"]
DEFAULTS = {
    "domain": ZONE,
    "public_services": ["chat", "openai"],
    "internal_services": ["ollama", "qdrant"],
    "dns_zone_dir": "/etc/bind/zones",
    "dns_absent": ["vllm"],
}


def dns_host(
    named: LoopbackNamed,
    files: Mapping[str, FileEntry] | None = None,
    *,
    rndc_running: bool = True,
    checkzone_exit: int = 0,
) -> ScriptedHost:
    """A dns host whose facts are its ``files``; rndc reconfig/reload make ``named`` serve."""
    host = ScriptedHost("dns", files=dict(files or {}))

    def cat(key: str, path: str) -> Command:
        entry = host.files.get(path)
        if entry is None:
            return Command(dns_fact_commands(ZONE_FILE, STATE_FILE)[key], exit=44)
        return Command(dns_fact_commands(ZONE_FILE, STATE_FILE)[key], out=entry.content.decode())

    def install(_cmd: str, _stdin: bytes | None) -> None:
        if ZONE_FILE in host.files:
            host.files[ZONE_FILE + ".bak"] = host.files[ZONE_FILE]
        host.files[ZONE_FILE] = host.files.pop(CANDIDATE)

    def serve(_cmd: str, _stdin: bytes | None) -> None:
        named.load(host.files[ZONE_FILE].content)

    facts = dns_fact_commands(ZONE_FILE, STATE_FILE)
    rndc = (
        Command("rndc status", out=RNDC_UP)
        if rndc_running
        else Command("rndc status", err=RNDC_REFUSED, exit=1)
    )
    host.script += [
        cat("zone_file", ZONE_FILE),
        cat("named_conf_local", NAMED_CONF_LOCAL),
        cat("state_file", STATE_FILE),
        Command(facts["named_directory"], out=NAMED_DIR + "\n"),
        rndc,
        Command(
            checkzone_command(NAMED_DIR, ZONE, CANDIDATE),
            out="zone homehub.test/IN: loaded serial 2025101300\nOK\n",
            err=CHECKZONE_BAD if checkzone_exit else "",
            exit=checkzone_exit,
        ),
        Command(f"cp -p -- {NAMED_CONF_LOCAL} ", match="prefix"),
        Command("named-checkconf"),
        Command(replace_with_backup_command(ZONE_FILE, CANDIDATE), check=install),
        Command(f"rm -f -- {CANDIDATE}"),
        Command("rndc reconfig", check=serve),
        Command(f"rndc reload {ZONE}", check=serve),
    ]
    return host


def inventory(host: ScriptedHost, named: LoopbackNamed, **extra: Any) -> Any:
    """trusted, compute and the scripted dns host (queried on 127.0.0.1 at ``named.port``).

    The site values go into each host's data: `scripted_nornir`'s ``defaults`` do not reach
    the hosts' own lookups (``host.get``/``host.items``).
    """
    site = {**DEFAULTS, **extra}
    return scripted_nornir(
        {
            "trusted": (
                {"role": "trusted", "fqdn": "trusted.homehub.test", "hostname": "192.0.2.131"}
                | site,
                ScriptedHost("trusted"),
            ),
            "compute": (
                {"role": "compute", "fqdn": "compute.homehub.test", "hostname": "192.0.2.132"}
                | site,
                ScriptedHost("compute"),
            ),
            "dns": (
                {
                    "role": "dns",
                    "fqdn": "dns.homehub.test",
                    "hostname": "127.0.0.1",
                    "dns_port": named.port,
                    **site,
                },
                host,
            ),
        },
    ).filter(name="dns")


def deploy(host: ScriptedHost, named: LoopbackNamed, **kw: Any) -> Any:
    extra = kw.pop("inventory", {})
    agg = inventory(host, named, **extra).run(
        task=deploy_zone, today=kw.pop("today", TODAY), poll_timeout=10, **kw
    )
    return agg["dns"][0]


def records(text: bytes) -> set[tuple[str, str, str]]:
    """The zone's records as dnspython reads them: (owner, type, value)."""
    zone = dns.zone.from_text(text.decode(), origin=ZONE + ".", relativize=True)
    return {
        (
            name.to_text(),
            dns.rdatatype.to_text(rds.rdtype),
            rd.to_text(origin=zone.origin, relativize=False),
        )
        for name, rds in zone.iterate_rdatasets()
        for rd in rds
        if rds.rdtype != dns.rdatatype.SOA
    }


EXPECTED = {
    ("@", "NS", "dns.homehub.test."),
    ("trusted", "A", "192.0.2.131"),
    ("compute", "A", "192.0.2.132"),
    ("dns", "A", "127.0.0.1"),
    ("chat", "CNAME", "trusted.homehub.test."),
    ("openai", "CNAME", "trusted.homehub.test."),
    ("ollama", "CNAME", "compute.homehub.test."),
    ("qdrant", "CNAME", "compute.homehub.test."),
}


@pytest.fixture
def named() -> Iterator[LoopbackNamed]:
    with loopback_named(ZONE) as server:
        yield server


def rndc_run(host: ScriptedHost) -> list[str]:
    return [c for c in host.ran if c.startswith("rndc ") and c != "rndc status"]


def test_dry_run_plans_the_zone_and_changes_nothing(named: LoopbackNamed) -> None:
    host = dns_host(named)
    res = deploy(host, named, dry_run=True)
    assert not res.failed, res.exception
    assert res.changed
    assert "+ chat CNAME trusted.homehub.test." in res.diff
    assert f"+++ {NAMED_CONF_LOCAL}" in res.diff
    assert host.uploads == [] and host.files == {}
    assert host.ran == list(dns_fact_commands(ZONE_FILE, STATE_FILE).values())
    assert res.result.actions == ("reconfig",) and res.result.served_serial is None


def test_first_deploy_uploads_the_zone_declares_it_and_waits_until_served(
    named: LoopbackNamed,
) -> None:
    host = dns_host(named)
    res = deploy(host, named)
    assert not res.failed, res.exception
    assert res.changed
    # Uploaded: the candidate (checked, then renamed over the zone file), the stanza, the state.
    assert host.uploads == [CANDIDATE, NAMED_CONF_LOCAL, STATE_FILE]
    zone = host.files[ZONE_FILE]
    assert (zone.mode, zone.owner, zone.group) == (0o644, "root", "bind")
    assert zone.content == res.result.plan.content.encode()
    assert records(zone.content) == EXPECTED
    assert b"2025101300 ; serial" in zone.content
    conf = host.files[NAMED_CONF_LOCAL].content.decode()
    assert f'zone "{ZONE}" {{' in conf and f'file "{ZONE_FILE}";' in conf
    state = json.loads(host.files[STATE_FILE].content)
    assert state["zone"] == ZONE and state["serial_high"] == 2025101300
    assert {(r["name"], r["type"], r["value"]) for r in state["records"]} == EXPECTED
    # named-checkzone ran on the candidate before it replaced anything; named was told once.
    ran = host.ran
    assert ran.index(checkzone_command(NAMED_DIR, ZONE, CANDIDATE)) < ran.index(
        replace_with_backup_command(ZONE_FILE, CANDIDATE)
    )
    assert rndc_run(host) == ["rndc reconfig"]
    assert res.result.served_serial == 2025101300
    assert (f"{ZONE}.", "SOA") in named.queries


def test_a_second_run_is_a_no_op(named: LoopbackNamed) -> None:
    first = dns_host(named)
    deploy(first, named)
    again = dns_host(named, first.files)
    res = deploy(again, named)
    assert not res.failed, res.exception
    assert not res.changed and res.diff == ""
    assert again.uploads == [] and rndc_run(again) == []
    assert again.ran == list(dns_fact_commands(ZONE_FILE, STATE_FILE).values())


def test_an_inventory_change_edits_the_zone_in_place_and_reloads(named: LoopbackNamed) -> None:
    first = dns_host(named)
    deploy(first, named)
    # Someone adds a record by hand: it must survive the edit, line and all.
    hand = first.files[ZONE_FILE].content + b"printer 300 IN A 192.0.2.140 ; by hand\n"
    first.files[ZONE_FILE] = FileEntry(hand, 0o644, "root", "bind")
    named.load(hand)
    host = dns_host(named, first.files)
    www = [{"name": "www", "type": "CNAME", "value": "chat"}]
    res = deploy(host, named, inventory={"dns_records": www})
    assert not res.failed, res.exception
    assert host.uploads == [CANDIDATE, STATE_FILE]
    zone = host.files[ZONE_FILE].content
    assert records(zone) == EXPECTED | {
        ("www", "CNAME", "chat.homehub.test."),
        ("printer", "A", "192.0.2.140"),
    }
    assert b"printer 300 IN A 192.0.2.140 ; by hand\n" in zone
    assert b"2025101301 ; serial" in zone
    assert host.files[ZONE_FILE + ".bak"].content == hand
    assert rndc_run(host) == [f"rndc reload {ZONE}"]
    assert res.result.served_serial == 2025101301


def test_a_candidate_named_checkzone_refuses_replaces_nothing(named: LoopbackNamed) -> None:
    host = dns_host(named, checkzone_exit=1)
    res = deploy(host, named)
    assert res.failed and isinstance(res.exception, ZoneRejected)
    message = str(res.exception)
    assert "named-checkzone rejected the candidate zone homehub.test" in message
    assert "nothing replaced, named not reloaded" in message
    assert f"rm -f -- {CANDIDATE}" in host.ran
    assert ZONE_FILE not in host.files and NAMED_CONF_LOCAL not in host.files
    assert rndc_run(host) == [] and named.zone is None


def test_named_not_answering_rndc_changes_nothing(named: LoopbackNamed) -> None:
    host = dns_host(named, rndc_running=False)
    res = deploy(host, named)
    assert res.failed and isinstance(res.exception, NamedNotRunning)
    assert "connection refused" in str(res.exception)
    assert "nothing was changed" in str(res.exception)
    assert host.uploads == [] and rndc_run(host) == []


def test_check_zone_passes_after_a_deploy_and_names_an_old_serial(named: LoopbackNamed) -> None:
    first = dns_host(named)
    deploy(first, named)
    host = ScriptedHost("dns", files=first.files)
    agg = inventory(host, named).run(task=check_zone)
    checks = agg["dns"][0].result
    assert not agg.failed, [c.to_dict() for c in checks if c.failed]
    assert {c.name for c in checks} == {
        "dns.ns",
        "dns.trusted",
        "dns.compute",
        "dns.dns",
        "dns.chat",
        "dns.openai",
        "dns.ollama",
        "dns.qdrant",
        "dns.absent.vllm",
        "dns.serial",
    }
    assert host.ran == []  # the zone file is read, nothing runs on the host

    old = first.files[ZONE_FILE].content.replace(b"2025101300 ; serial", b"2025101299 ; serial")
    named.load(old)
    agg = inventory(host, named).run(task=check_zone)
    failed = [c for c in agg["dns"][0].result if c.failed]
    assert agg.failed and [c.name for c in failed] == ["dns.serial"]
    assert "served serial 2025101299, zone file serial 2025101300" in failed[0].evidence
    assert f"`rndc reload {ZONE}` on dns" in failed[0].remedy
