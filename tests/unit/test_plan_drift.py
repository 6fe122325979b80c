"""The pure parts of ``drift`` that the task tests do not reach: the zone and the compose images.

A zone deployed by nornir_homehub and then edited by hand (a managed record's address
changed, one removed) must come back as one drift item per record, naming it; the same zone
untouched, or only its serial differing, is no drift.
"""

from __future__ import annotations

import datetime as dt

from compute_double import compute_stacks
from zone_lab import lab_spec

from nornir_homehub.plan.drift import DriftKind, compose_images, zone_drift
from nornir_homehub.plan.zoneplan import plan_zone

TODAY = dt.date(2026, 12, 1)


def _deployed() -> tuple[str, str, int]:
    first = plan_zone(lab_spec(), None, TODAY)
    return first.content, first.state_content, first.serial


def test_a_zone_as_deployed_has_no_drift() -> None:
    zone, state, serial = _deployed()
    again = plan_zone(lab_spec(), zone, TODAY, served_serial=serial, state_text=state)
    assert zone_drift("dns", again) == ()


def test_managed_records_edited_by_hand_are_named_one_by_one() -> None:
    zone, state, serial = _deployed()
    trusted = next(ln for ln in zone.splitlines() if ln.split()[:1] == ["trusted"])
    address = trusted.split()[-1]
    chat = next(ln for ln in zone.splitlines() if ln.split()[:1] == ["chat"])
    edited = zone.replace(trusted, trusted.replace(address, "192.0.2.250"))
    edited = edited.replace(chat + "\n", "")
    plan = plan_zone(lab_spec(), edited, TODAY, served_serial=serial, state_text=state)
    items = zone_drift("dns", plan)
    assert sorted((d.kind, d.name) for d in items) == [
        (DriftKind.RECORD, "chat CNAME"),
        (DriftKind.RECORD, "trusted A"),
    ]
    by_name = {d.name: d for d in items}
    assert f"192.0.2.250 (ttl 3600) -> {address} (ttl 3600)" in by_name["trusted A"].what
    assert "edited by hand" in by_name["trusted A"].what
    assert by_name["chat CNAME"].what.startswith("+ chat CNAME")
    assert all("nornir_homehub dns" in d.remedy and d.stack == "zone" for d in items)


def test_compose_images_are_read_from_the_rendered_compose_file() -> None:
    ollama, qdrant = compute_stacks()
    assert compose_images(qdrant) == {"qdrant": "192.0.2.133:5000/homehub-standin/qdrant:lab"}
    assert compose_images(ollama) == {"ollama": "192.0.2.133:5000/homehub-standin/ollama:lab"}
