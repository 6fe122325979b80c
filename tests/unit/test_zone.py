"""The zone from inventory, its rendering, parsing, planning and named.conf.local stanza.

Inventory -> records cases live in tests/unit/cases/zone/*.yaml.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from zone_lab import LAB_DATA, LAB_HOSTS, lab_spec

from nornir_homehub import errors
from nornir_homehub.plan.named import plan_stanza, render_stanza
from nornir_homehub.plan.zoneplan import plan_zone
from nornir_homehub.plan.zonerender import parse_zone, render_zone
from nornir_homehub.plan.zonespec import HostEntry, ZoneRecord, zone_spec_from_inventory

ROOT = Path(__file__).resolve().parents[2]
CASES = sorted((Path(__file__).parent / "cases" / "zone").glob("*.yaml"))
TODAY = dt.date(2025, 10, 13)


def _record_text(r: ZoneRecord) -> str:
    return f"{r.name} {r.rtype} {r.value}"


def _expected_record(text: str) -> tuple[str, int | None]:
    if " ttl=" in text:
        body, _, ttl = text.rpartition(" ttl=")
        return body, int(ttl)
    return text, None


# -- inventory -> spec (data-driven) ---------------------------------------------------------


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_zone_spec_case(path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    hosts = [HostEntry(**h) for h in case["hosts"]] if "hosts" in case else LAB_HOSTS
    data = {**LAB_DATA, **(case.get("data") or {})}
    if "error" in case:
        exc_type = getattr(errors, case["error"]["type"])
        with pytest.raises(exc_type, match=case["error"]["match"]):
            zone_spec_from_inventory(hosts, data)
        return
    spec = zone_spec_from_inventory(hosts, data)
    expect = case["expect"]
    got = {_record_text(r): r.ttl for r in spec.records}
    for text in expect.get("records", []):
        body, ttl = _expected_record(text)
        assert body in got, f"{body!r} not in {sorted(got)}"
        assert got[body] == ttl
    if expect.get("only_these"):
        assert len(got) == len(expect["records"])
    for prefix in expect.get("missing", []):
        assert not any(t.startswith(prefix + " ") for t in got)
    for name in expect.get("absent", []):
        assert name in spec.absent
        assert not any(r.name == name for r in spec.records)
    if "zone_file" in expect:
        assert spec.zone_file == expect["zone_file"]
    if "note" in expect:
        assert any(expect["note"] in n for n in spec.notes)
    if "ttl" in expect:
        assert spec.ttl == expect["ttl"]
    for key, value in (expect.get("soa") or {}).items():
        assert getattr(spec.soa, key) == value


def test_production_inventory_reproduces_the_guide() -> None:
    """The guide's records for homehub.dk come out of inventory/ (read as files only)."""
    defaults = yaml.safe_load((ROOT / "inventory" / "defaults.yaml").read_text())
    hosts_yaml = yaml.safe_load((ROOT / "inventory" / "hosts.yaml").read_text())
    hosts = [
        HostEntry(name, h["hostname"], h["data"]["fqdn"], h["data"]["role"])
        for name, h in hosts_yaml.items()
    ]
    spec = zone_spec_from_inventory(hosts, defaults["data"])
    got = {_record_text(r) for r in spec.records}
    assert {
        "chat CNAME lxc-prod-2.prx-prod-1.homehub.dk.",
        "openai CNAME lxc-prod-2.prx-prod-1.homehub.dk.",
        "ollama CNAME srv-prod-1.prx-prod-2.homehub.dk.",
        "qdrant CNAME srv-prod-1.prx-prod-2.homehub.dk.",
        "lxc-prod-2.prx-prod-1 A 10.2.1.130",
        "srv-prod-1.prx-prod-2 A 10.2.0.190",
    } <= got
    assert "vllm" in spec.absent
    assert spec.zone == "homehub.dk"


# -- render / parse --------------------------------------------------------------------------


def test_render_parses_back_to_the_spec() -> None:
    spec = lab_spec(dns_records=[{"name": "mail", "type": "MX", "value": "10 trusted"}])
    text = render_zone(spec, 2025101311)
    parsed = parse_zone(text, spec.zone)
    assert parsed.serial == 2025101311
    assert parsed.records == spec.expected()
    assert parsed.soa == spec.soa
    assert text.startswith("; Zone created by nornir_homehub")
    assert "$TTL 3600" in text


@pytest.mark.skipif(shutil.which("named-checkzone") is None, reason="bind9-utils not installed")
def test_rendered_zone_passes_named_checkzone(tmp_path: Path) -> None:
    spec = lab_spec()
    path = tmp_path / "db.homehub.test"
    path.write_text(render_zone(spec, 2025101300))
    out = subprocess.run(
        ["named-checkzone", "-k", "fail", "-n", "fail", spec.zone, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "loaded serial 2025101300" in out.stdout


def test_parse_error_names_the_line() -> None:
    text = render_zone(lab_spec(), 2025101300) + "broken IN A 999.1.1.1\n"
    with pytest.raises(errors.PlanError, match=r"line \d+ `broken IN A 999.1.1.1`"):
        parse_zone(text, "homehub.test", source="db.homehub.test")


def test_parse_refuses_a_zone_for_another_origin() -> None:
    text = render_zone(lab_spec(), 2025101300).replace("$ORIGIN homehub.test.", "$ORIGIN x.test.")
    with pytest.raises(errors.PlanError, match="does not parse"):
        parse_zone(text, "homehub.test")


# -- plan ------------------------------------------------------------------------------------


def test_first_plan_creates_the_zone() -> None:
    plan = plan_zone(lab_spec(), None, TODAY)
    assert plan.changed
    assert plan.created
    assert plan.serial == 2025101300
    assert plan.serial_before is None
    assert "+chat " in plan.diff
    assert "new zone" in plan.serial_reason
    assert {_record_text(r) for r in plan.added} >= {"chat CNAME trusted.homehub.test."}


def test_second_plan_changes_nothing() -> None:
    first = plan_zone(lab_spec(), None, TODAY)
    second = plan_zone(
        lab_spec(), first.content, TODAY + dt.timedelta(days=3), state_text=first.state_content
    )
    assert not second.changed
    assert second.changes == ()
    assert second.serial == first.serial
    assert second.diff == ""
    assert second.content == first.content


def test_formatting_only_differences_are_not_changes() -> None:
    first = plan_zone(lab_spec(), None, TODAY)
    reformatted = first.content.replace("IN CNAME ", "CNAME ").replace("; Zone", ";; zone")
    assert not plan_zone(lab_spec(), reformatted, TODAY, state_text=first.state_content).changed


def test_added_record_bumps_serial_once() -> None:
    first = plan_zone(lab_spec(), None, TODAY)
    spec = lab_spec(dns_records=[{"name": "grafana", "type": "CNAME", "value": "trusted"}])
    second = plan_zone(spec, first.content, TODAY, state_text=first.state_content)
    assert second.changed
    assert second.serial == 2025101301
    assert [_record_text(r) for r in second.added] == ["grafana CNAME trusted.homehub.test."]
    assert second.removed == ()
    assert "+grafana" in second.diff
    assert "-    2025101300 ; serial" in second.diff
    third = plan_zone(spec, second.content, TODAY, state_text=second.state_content)
    assert not third.changed
    assert third.serial == 2025101301


def test_guide_zone_with_vllm_is_cleaned_up() -> None:
    """A zone that still has the removed vLLM record loses it (and gets a new serial)."""
    spec = lab_spec()
    old = render_zone(spec, 2025101311) + "vllm IN CNAME compute.homehub.test.\n"
    plan = plan_zone(spec, old, TODAY)
    assert plan.changed
    assert plan.serial == 2025101312
    assert [_record_text(r) for r in plan.removed] == ["vllm CNAME compute.homehub.test."]
    assert "-vllm" in plan.diff


def test_ttl_or_soa_change_is_a_change() -> None:
    first = plan_zone(lab_spec(), None, TODAY)
    assert plan_zone(lab_spec(dns_ttl=600), first.content, TODAY).changed
    assert plan_zone(lab_spec(dns_soa_contact="admin"), first.content, TODAY).changed


def test_non_date_serial_is_noted() -> None:
    spec = lab_spec()
    old = render_zone(spec, 7).replace("chat ", "chat2 ")
    plan = plan_zone(spec, old, TODAY)
    assert plan.serial == 8
    assert "RFC 1982" in plan.serial_reason


def test_unreadable_current_zone_is_refused_unless_forced() -> None:
    spec = lab_spec()
    old = render_zone(spec, 2031010100) + "broken IN A nope\n"
    refused = plan_zone(spec, old, TODAY)
    assert [r.allowed_by for r in refused.refused] == ["--force"]
    assert "does not parse" in refused.refused[0].reason
    assert "line 19: invalid A data `nope`" in refused.refused[0].reason
    forced = plan_zone(spec, old, TODAY, force=True)
    assert forced.refused == ()
    assert forced.changed
    assert forced.serial == 2031010101, "the serial never goes back, even from a broken file"


def test_served_serial_newer_than_file_is_not_undercut() -> None:
    first = plan_zone(lab_spec(), None, TODAY)
    plan = plan_zone(
        lab_spec(),
        first.content,
        TODAY,
        served_serial=2025101305,
        state_text=first.state_content,
    )
    assert plan.changed
    assert plan.changes == ()
    assert plan.serial == 2025101306
    assert "named serves 2025101305" in plan.serial_reason


def test_plan_to_dict_is_json_ready() -> None:
    import json

    plan = plan_zone(lab_spec(), None, TODAY)
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["serial"] == 2025101300
    assert data["changed"] is True
    chat = next(c for c in data["added"] if c["name"] == "chat")
    assert chat["after"] == [
        {
            "name": "chat",
            "type": "CNAME",
            "value": "trusted.homehub.test.",
            "ttl": 3600,
            "source": "public_services",
        }
    ]
    assert data["foreign_kept"] == 0
    assert json.loads(json.dumps(lab_spec().to_dict()))["absent"] == ["vllm"]


# -- named.conf.local ------------------------------------------------------------------------

DEBIAN_LOCAL = """//
// Do any local configuration here
//

// Consider adding the 1918 zones here, if they are not used in your
// organization
//include "/etc/bind/zones.rfc1918";

"""


def test_stanza_added_once() -> None:
    new = plan_stanza(DEBIAN_LOCAL, "homehub.test", "/etc/bind/zones/db.homehub.test")
    assert new is not None
    assert new.startswith(DEBIAN_LOCAL)
    assert 'zone "homehub.test" {' in new
    assert 'file "/etc/bind/zones/db.homehub.test";' in new
    assert plan_stanza(new, "homehub.test", "/etc/bind/zones/db.homehub.test") is None


def test_stanza_on_missing_file() -> None:
    new = plan_stanza(None, "homehub.test", "/f")
    assert new == render_stanza("homehub.test", "/f")


def test_stanza_updated_in_place_when_the_path_changes() -> None:
    old = plan_stanza(DEBIAN_LOCAL, "homehub.test", "/a") or ""
    other = old + 'zone "other.test" { type master; file "/o"; };\n'
    new = plan_stanza(other, "homehub.test", "/b")
    assert new is not None
    assert new.count('zone "homehub.test"') == 1
    assert 'file "/b";' in new
    assert new.endswith('zone "other.test" { type master; file "/o"; };\n')


def test_unmanaged_stanza_for_another_file_is_refused() -> None:
    conf = DEBIAN_LOCAL + 'zone "homehub.test" { type master; file "/x"; };\n'
    with pytest.raises(
        errors.PlanError, match=r"declares zone homehub\.test .* with file /x, not /f"
    ):
        plan_stanza(conf, "homehub.test", "/f")


def test_unmanaged_stanza_for_the_same_file_is_adopted() -> None:
    conf = DEBIAN_LOCAL + 'zone "homehub.test" {\n  type primary;\n  file "/f";\n};\n'
    assert plan_stanza(conf, "homehub.test", "/f") is None


def test_commented_out_stanza_is_ignored() -> None:
    conf = DEBIAN_LOCAL + '// zone "homehub.test" { type master; file "/x"; };\n'
    assert plan_stanza(conf, "homehub.test", "/f") is not None


def test_a_filtered_run_plans_the_whole_inventorys_zone() -> None:
    """`--filter role=dns` selects one host; the zone still has every host's records."""
    from types import SimpleNamespace

    from nornir_homehub.config import load_nornir
    from nornir_homehub.tasks.dns import inventory_hosts, zone_spec_for

    nr = load_nornir(ROOT / "inventory" / "lab" / "config.yaml").filter(role="dns")
    assert list(nr.inventory.hosts) == ["dns"]
    hosts = inventory_hosts(SimpleNamespace(nornir=nr))  # type: ignore[arg-type]
    assert list(hosts) == ["trusted", "compute", "dns"]
    spec = zone_spec_for(nr.inventory.hosts["dns"], hosts)
    got = {_record_text(r) for r in spec.records}
    assert {"chat CNAME trusted.homehub.test.", "ollama CNAME compute.homehub.test."} <= got
