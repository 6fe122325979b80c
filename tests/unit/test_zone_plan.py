"""Record-level zone plans on real-world zone files, one YAML case each (cases/zone_plan/).

A case gives a zone file as an operator writes it (plus $INCLUDEd files, the state file, the
served serial, inventory changes and flags) and the plan it must produce: records added,
changed (old -> new) and removed, foreign records kept, the serial and why, and what is
refused. Beyond what a case lists, every plan that is not refused must hold:

* the new file parses (and passes named-checkzone when bind9-utils is installed);
* every line of the old file that holds a kept record is still in the new file, byte for byte;
* foreign records are read back exactly as before (name, type, value, TTL);
* a second run on the result, with the state the first one wrote, changes nothing.

Case keys: ``zone`` (text, or null for no file), ``includes`` ({relative path: text}),
``state`` ({records: ["name TYPE value ttl", ..] or "lab", also: [..], soa_managed,
serial_high}), ``served_serial``,
``inventory`` (data merged on the lab inventory), ``flags`` ({prune, force}), ``today``;
``expect``: ``added``/``removed`` ("name TYPE value" per record), ``changed`` ("name TYPE
old, .. -> new, .."), ``adopted`` ("name TYPE"), ``foreign_kept`` (count), ``serial``,
``serial_reason`` (substring), ``refused``/``allowed`` (the flags: "--prune", "--force",
"none"), ``refusal`` (substring), ``notes`` (substrings), ``file_has`` (whole lines, blanks squeezed)
and ``file_lacks`` (substrings).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from zone_lab import lab_spec

from nornir_homehub.plan.zonefile import parse_zone_file
from nornir_homehub.plan.zoneplan import Action, RecordChange, ZonePlan, plan_zone
from nornir_homehub.plan.zonespec import ZoneSpec

CASES = sorted((Path(__file__).parent / "cases" / "zone_plan").glob("*.yaml"))


def _spec(case: dict[str, Any]) -> ZoneSpec:
    return lab_spec(**(case.get("inventory") or {}))


def _state_text(case: dict[str, Any]) -> str | None:
    state = case.get("state")
    if state is None:
        return None
    records = state.get("records", [])
    if records == "lab":
        records = [f"{r.name} {r.rtype} {r.value} {r.ttl}" for r in _spec({}).expected()]
    records = [*records, *state.get("also", [])]
    rows = []
    for text in records:
        name, rtype, rest = text.split(" ", 2)
        value, _, ttl = rest.rpartition(" ")
        rows.append({"name": name, "type": rtype, "value": value, "ttl": int(ttl)})
    return json.dumps(
        {
            "version": 1,
            "zone": "homehub.test",
            "soa_managed": state.get("soa_managed", True),
            "serial_high": state.get("serial_high"),
            "records": rows,
        }
    )


def _per_record(changes: list[RecordChange], action: Action) -> list[str]:
    out = []
    for c in changes:
        if c.action == action:
            side = c.after if action == Action.ADD else c.before
            out += [f"{c.name} {c.rtype} {r.value}" for r in side]
    return sorted(out)


def _changed(changes: list[RecordChange]) -> list[str]:
    return sorted(
        f"{c.name} {c.rtype} {', '.join(r.value for r in c.before)} -> "
        f"{', '.join(r.value for r in c.after)}"
        for c in changes
        if c.action == Action.CHANGE
    )


def _plan(case: dict[str, Any], tmp: Path) -> tuple[ZonePlan, dict[str, str]]:
    includes = {}
    for name, text in (case.get("includes") or {}).items():
        # Relative names are files named-checkzone reads here; absolute ones only feed the plan.
        path = name if name.startswith("/") else str(tmp / name)
        includes[path] = text
        if not name.startswith("/"):
            Path(path).write_text(text)
    flags = case.get("flags") or {}
    plan = plan_zone(
        _spec(case),
        case.get("zone"),
        case.get("today", dt.date(2025, 10, 13)),
        served_serial=case.get("served_serial"),
        state_text=_state_text(case),
        includes=includes,
        include_dir=str(tmp),
        prune=bool(flags.get("prune")),
        force=bool(flags.get("force")),
    )
    return plan, includes


def _check_expectations(plan: ZonePlan, expect: dict[str, Any]) -> None:
    changes = list(plan.changes)
    for key, action in (("added", Action.ADD), ("removed", Action.REMOVE)):
        if key in expect:
            assert _per_record(changes, action) == sorted(expect[key]), plan.text()
    if "changed" in expect:
        assert _changed(changes) == sorted(expect["changed"]), plan.text()
    if "adopted" in expect:
        got = sorted({f"{r.name} {r.rtype}" for r in plan.adopted})
        assert got == sorted(expect["adopted"]), plan.text()
    if "foreign_kept" in expect:
        assert len(plan.foreign) == expect["foreign_kept"], plan.text()
    if "serial" in expect:
        assert plan.serial == expect["serial"], plan.text()
    if "serial_reason" in expect:
        assert expect["serial_reason"] in plan.serial_reason
    refused = sorted(r.allowed_by or "none" for r in plan.refused)
    assert refused == sorted(expect.get("refused", [])), plan.text()
    allowed = sorted(r.allowed_by or "none" for r in plan.refusals if r.overridden)
    assert allowed == sorted(expect.get("allowed", [])), plan.text()
    if "refusal" in expect:
        assert any(expect["refusal"] in r.reason for r in plan.refusals), plan.text()
    for note in expect.get("notes", []):
        assert any(note in n for n in plan.notes), plan.text()
    # Lines compared with runs of blanks squeezed (the invariants check kept lines exactly).
    lines = [" ".join(line.split()) for line in plan.content.splitlines()]
    for line in expect.get("file_has", []):
        assert " ".join(line.split()) in lines, plan.content
    for line in expect.get("file_lacks", []):
        assert not any(line in got for got in lines), plan.content


def _check_invariants(
    case: dict[str, Any], plan: ZonePlan, includes: dict[str, str], tmp: Path
) -> None:
    spec = _spec(case)
    parse_zone_file(plan.content, spec.zone, includes=includes, include_dir=str(tmp))
    if plan.serial_before is not None:  # the old file parsed: it was edited, not replaced
        old = parse_zone_file(case["zone"], spec.zone, includes=includes, include_dir=str(tmp))
        kept = {(r.name, r.rtype, r.value, r.ttl) for r in plan.foreign}
        for r in old.records:
            if not r.editable or (r.name, r.rtype, r.value, r.ttl) not in kept:
                continue
            entry = old.entries[r.entry]
            text = "".join(old.lines[entry.first : entry.last + 1])
            # A continuation line may get its owner (or TTL) written out; the rest stays.
            text = text.lstrip() if entry.blank_owner else text
            if entry.ttl_token is None and not entry.context.ttl_directive:
                text = text.split(r.rtype, 1)[-1]
            assert text in plan.content, f"kept record's text changed: {text!r}\n{plan.content}"
        after = {(r.name, r.rtype, r.value, r.ttl) for r in plan.records_after}
        assert kept <= after
    if shutil.which("named-checkzone"):
        path = tmp / "candidate.zone"
        path.write_text(plan.content)
        out = subprocess.run(
            ["named-checkzone", "-k", "fail", "-n", "fail", "-i", "local", spec.zone, str(path)],
            capture_output=True,
            text=True,
            check=False,
            cwd=tmp,
        )
        assert out.returncode == 0, out.stdout + out.stderr + plan.content
    again = plan_zone(
        spec,
        plan.content,
        case.get("today", dt.date(2025, 10, 13)),
        served_serial=plan.serial,
        state_text=plan.state_content,
        includes=includes,
        include_dir=str(tmp),
    )
    assert not again.changed, again.text()
    assert again.changes == ()
    assert again.refused == ()
    assert again.serial == plan.serial


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_zone_plan_case(path: Path, tmp_path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    plan, includes = _plan(case, tmp_path)
    _check_expectations(plan, case["expect"])
    if not plan.refused:
        _check_invariants(case, plan, includes, tmp_path)
    else:
        assert plan.refused, "a refused plan names why"
    # The plan is JSON-ready for the report.
    json.dumps(plan.to_dict())


def test_cases_cover_the_zone_styles() -> None:
    """Every style the issue names has a case."""
    text = "\n".join(p.read_text() for p in CASES)
    for style in ("$ORIGIN", "$INCLUDE", "$GENERATE", " MX ", " TXT ", " SRV ", " AAAA ", " CAA "):
        assert text.count(style) >= 2, style
    assert any("--prune" in p.read_text() for p in CASES)
    assert any("--force" in p.read_text() for p in CASES)


# -- pieces the cases do not show --------------------------------------------------------------


def test_unusable_state_files_are_ignored_with_a_note() -> None:
    from nornir_homehub.plan.zonestate import parse_zone_state

    assert parse_zone_state(None, "homehub.test") == (None, "")
    state, note = parse_zone_state("{not json", "homehub.test")
    assert state is None
    assert "unreadable" in note
    other = json.dumps({"version": 1, "zone": "x.test", "soa_managed": True, "records": []})
    state, note = parse_zone_state(other, "homehub.test")
    assert state is None
    assert "x.test" in note
    # Without a usable state every record is foreign: a stale record is kept, not removed.
    zone = (
        "$ORIGIN homehub.test.\n$TTL 3600\n@ IN SOA dns hostmaster 1 1 1 1 1\n@ IN NS dns\n"
        "dns IN A 192.0.2.133\ngrafana IN CNAME trusted\n"
    )
    plan = plan_zone(_spec({}), zone, dt.date(2025, 10, 13), state_text="{not json")
    assert any("unreadable" in n for n in plan.notes)
    assert "grafana CNAME" in {f"{r.name} {r.rtype}" for r in plan.foreign}


def test_include_paths_resolve_like_named() -> None:
    from nornir_homehub.plan.zonefile import include_path

    assert include_path("hosts.db") == "/var/cache/bind/hosts.db"
    assert include_path('"/etc/bind/zones/../x.db"', "/srv") == "/etc/bind/x.db"
    assert include_path("sub/y.db", "/etc/bind") == "/etc/bind/sub/y.db"


def test_an_unread_include_is_named_in_the_notes() -> None:
    zone = (
        "$ORIGIN homehub.test.\n$TTL 3600\n@ IN SOA dns hostmaster 1 1 1 1 1\n@ IN NS dns\n"
        "dns IN A 192.0.2.133\n$INCLUDE /etc/bind/zones/missing.db\n"
    )
    plan = plan_zone(_spec({}), zone, dt.date(2025, 10, 13))
    assert any("missing.db could not be read" in n for n in plan.notes)
    assert "$INCLUDE /etc/bind/zones/missing.db" in plan.content


def test_plan_text_and_json_say_what_is_refused_and_how_to_allow_it() -> None:
    case = yaml.safe_load((CASES[0].parent / "10-conflict-a-vs-cname-refused.yaml").read_text())
    plan = plan_zone(_spec(case), case["zone"], dt.date(2025, 10, 13))
    text = plan.text()
    assert "- chat A 192.0.2.99 (ttl 3600)  [conflict: a CNAME cannot coexist" in text
    assert "REFUSED (rerun with --force to allow it): chat: the inventory wants chat CNAME" in text
    data = plan.to_dict(file_diff=False)
    assert "diff" not in data
    assert data["refused"] is True
    assert {"reason", "allowed_by", "overridden"} <= set(data["refusals"][0])
    assert data["removed"][0]["conflict"] is True
    assert "diff" in plan.to_dict()
