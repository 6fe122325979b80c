"""Which records of a zone nornir_homehub manages, kept in a state file beside the zone (pure).

The state file (``.db.<zone>.managed.json`` next to the zone file) lists the records the tool
wrote, whether it owns the SOA fields (it does for zones it created) and the highest serial
it has seen served or written for the zone. Everything in the zone that is not listed is
someone else's and is kept.

A state file rather than a marker block in the zone: the zone is edited in place, so records
the tool takes over keep their line and comments (a block would move them), an operator's
reformatting or reordering of the file cannot break ownership, and the serial high-water mark
has a place that an edit of the zone file cannot lose.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

STATE_VERSION = 1


@dataclass(frozen=True, order=True)
class ManagedRecord:
    """One record the tool wrote (owner relative to the zone, canonical value, TTL)."""

    name: str
    rtype: str
    value: str
    ttl: int

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"name": self.name, "type": self.rtype, "value": self.value, "ttl": self.ttl}


@dataclass(frozen=True)
class ZoneState:
    """What the tool owns in one zone.

    Attributes:
        zone: zone name without the trailing dot.
        records: the managed records, sorted.
        soa_managed: the SOA fields (other than the serial) come from the inventory; True for
            zones the tool created, False for adopted ones (their SOA is the operator's).
        serial_high: the highest serial seen served or written (RFC 1982 order), or None.

    """

    zone: str
    records: tuple[ManagedRecord, ...]
    soa_managed: bool
    serial_high: int | None

    def keys(self) -> set[tuple[str, str]]:
        """The managed RRsets as ``(owner lower case, type)``."""
        return {(r.name.lower(), r.rtype) for r in self.records}

    def values(self, name: str, rtype: str) -> set[str]:
        """The managed values of one RRset."""
        return {
            r.value for r in self.records if r.name.lower() == name.lower() and r.rtype == rtype
        }

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the state file's content)."""
        return {
            "version": STATE_VERSION,
            "zone": self.zone,
            "written_by": "nornir_homehub",
            "soa_managed": self.soa_managed,
            "serial_high": self.serial_high,
            "records": [r.to_dict() for r in self.records],
        }


def render_zone_state(state: ZoneState) -> str:
    """Return the state file text (deterministic: no timestamps, sorted records)."""
    return json.dumps(state.to_dict(), indent=2, sort_keys=True) + "\n"


def make_zone_state(
    zone: str, records: Iterable[ManagedRecord], *, soa_managed: bool, serial_high: int | None
) -> ZoneState:
    """Build a state with its records sorted and deduplicated."""
    return ZoneState(zone, tuple(sorted(set(records))), soa_managed, serial_high)


def parse_zone_state(text: str | None, zone: str) -> tuple[ZoneState | None, str]:
    """Read a state file.

    Args:
        text: the file's content, None when it does not exist.
        zone: the zone it must describe.

    Returns:
        ``(state, note)``: the state, or None with a note saying why it is not used (missing,
        unreadable, another zone). An unusable state is never an error: without it every
        record in the zone counts as foreign, so nothing is removed that might not be ours.

    """
    if text is None:
        return None, ""
    try:
        data = json.loads(text)
        if data.get("version") != STATE_VERSION:
            return None, f"state file version {data.get('version')!r} is unknown: ignored"
        if str(data["zone"]).lower() != zone.lower():
            return None, f"state file describes zone {data['zone']}, not {zone}: ignored"
        records = [
            ManagedRecord(str(r["name"]), str(r["type"]).upper(), str(r["value"]), int(r["ttl"]))
            for r in data["records"]
        ]
        high = data.get("serial_high")
        state = make_zone_state(
            zone,
            records,
            soa_managed=bool(data["soa_managed"]),
            serial_high=int(high) if high is not None else None,
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return None, f"state file is unreadable ({type(exc).__name__}: {exc}): ignored"
    return state, ""
