"""What a zone plan says: the RRsets it adds, changes and removes, and the plan as a whole.

`RecordChange` is one RRset added, changed or removed, with why; `ZonePlan` is everything
deploying the zone would do (records, serial, refusals, the new zone and state files), in
words (`ZonePlan.text`, what the dry run shows) and as JSON (`ZonePlan.to_dict`).
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nornir_homehub.plan.zonelines import Located
from nornir_homehub.plan.zonesafety import Refusal
from nornir_homehub.plan.zonespec import ZoneRecord, ZoneSpec
from nornir_homehub.plan.zonestate import ZoneState

if TYPE_CHECKING:
    import datetime as dt


@dataclass(frozen=True)
class ZoneInputs:
    """What a zone plan starts from besides the zone file itself.

    Attributes:
        spec: the desired zone (from the inventory).
        today: the controller's date (for ``YYYYMMDDNN``).
        served: the SOA serial named serves now (None: not served, or unknown).
        state: the state file as read (None: missing or unusable).
        state_text: the state file's text (None: missing).
        notes: remarks gathered so far (the spec's, the state file's); the plan adds to them.

    """

    spec: ZoneSpec
    today: dt.date
    served: int | None
    state: ZoneState | None
    state_text: str | None
    notes: list[str]

    @property
    def serial_high(self) -> int | None:
        """The highest serial the state file has seen, if any."""
        return self.state.serial_high if self.state else None


class Action(enum.StrEnum):
    """What happens to one RRset."""

    ADD = "add"
    CHANGE = "change"
    REMOVE = "remove"


@dataclass(frozen=True)
class RecordChange:
    """One RRset added, changed or removed.

    Attributes:
        action: add, change or remove.
        name: owner relative to the zone.
        rtype: record type.
        before: the records in the zone now (``source`` says where: ``line 12``).
        after: the records after the run (``source`` says why: the inventory variable).
        reason: why, in words.
        foreign: records someone else wrote are replaced or removed.
        conflict: a foreign record that cannot coexist with the inventory's is removed.

    """

    action: Action
    name: str
    rtype: str
    before: tuple[ZoneRecord, ...]
    after: tuple[ZoneRecord, ...]
    reason: str
    foreign: bool = False
    conflict: bool = False

    def text(self) -> str:
        """One line: ``+ chat CNAME trusted.homehub.test. (ttl 3600)  public_services``."""

        def values(records: Sequence[ZoneRecord]) -> str:
            ttls = {r.ttl for r in records}
            vals = ", ".join(r.value for r in records)
            return f"{vals} (ttl {ttls.pop()})" if len(ttls) == 1 else vals

        mark = {Action.ADD: "+", Action.CHANGE: "~", Action.REMOVE: "-"}[self.action]
        if self.action == Action.ADD:
            what = values(self.after)
        elif self.action == Action.REMOVE:
            what = values(self.before)
        else:
            what = f"{values(self.before)} -> {values(self.after)}"
        return f"{mark} {self.name} {self.rtype} {what}  [{self.reason}]"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "action": str(self.action),
            "name": self.name,
            "type": self.rtype,
            "before": [_record_dict(r) for r in self.before],
            "after": [_record_dict(r) for r in self.after],
            "reason": self.reason,
            "foreign": self.foreign,
            "conflict": self.conflict,
        }


def _record_dict(r: ZoneRecord) -> dict[str, Any]:
    return {**r.to_dict(), "source": r.source}


@dataclass(frozen=True)
class ZonePlan:
    """What deploying the zone would do, record by record.

    Attributes:
        zone: zone name.
        zone_file / state_file: paths on the dns host.
        serial_before: serial of the current file (None: no file, or it does not parse).
        serial: serial the zone has after the run.
        serial_reason: why the serial is that number.
        created: there is no zone file yet.
        zone_changed: the zone file's text changes.
        state_changed: the state file changes (records adopted, first run, serial seen).
        changes: the RRsets added, changed and removed.
        adopted: foreign records identical to the inventory's, managed from now on.
        foreign: records someone else wrote that stay as they are.
        records_before / records_after: every record (SOA excluded), effective TTLs.
        refusals: what needs a flag or cannot be done (overridden ones included).
        notes: remarks (adoption, SOA kept, includes, serial arithmetic).
        diff: unified diff of the zone file (shown with ``--diff``).
        content: the zone file to install.
        state_content: the state file to write.

    """

    zone: str
    zone_file: str
    state_file: str
    serial_before: int | None
    serial: int
    serial_reason: str
    created: bool
    zone_changed: bool
    state_changed: bool
    changes: tuple[RecordChange, ...]
    adopted: tuple[ZoneRecord, ...]
    foreign: tuple[ZoneRecord, ...]
    records_before: tuple[ZoneRecord, ...]
    records_after: tuple[ZoneRecord, ...]
    refusals: tuple[Refusal, ...]
    notes: tuple[str, ...]
    diff: str = field(repr=False)
    content: str = field(repr=False)
    state_content: str = field(repr=False)

    @property
    def changed(self) -> bool:
        """The zone file or the state file changes."""
        return self.zone_changed or self.state_changed

    @property
    def refused(self) -> tuple[Refusal, ...]:
        """The refusals no flag of this run overrides: the plan must not be applied."""
        return tuple(r for r in self.refusals if not r.overridden)

    @property
    def added(self) -> tuple[ZoneRecord, ...]:
        """Records present after and not before."""
        before = {rkey(r) for r in self.records_before}
        return tuple(r for r in self.records_after if rkey(r) not in before)

    @property
    def removed(self) -> tuple[ZoneRecord, ...]:
        """Records present before and not after."""
        after = {rkey(r) for r in self.records_after}
        return tuple(r for r in self.records_before if rkey(r) not in after)

    def text(self) -> str:
        """The plan in words, one line per RRset (the dry run and report show this)."""
        lines = [f"zone {self.zone} ({self.zone_file})"]
        lines += [f"  {c.text()}" for c in self.changes]
        if self.adopted:
            names = ", ".join(f"{r.name} {r.rtype}" for r in self.adopted)
            lines.append(f"  = adopted {len(self.adopted)} existing record(s): {names}")
        if self.foreign:
            names = ", ".join(sorted({f"{r.name} {r.rtype}" for r in self.foreign}))
            lines.append(f"  kept {len(self.foreign)} foreign record(s) unchanged: {names}")
        before = "none" if self.serial_before is None else str(self.serial_before)
        lines.append(f"  serial {before} -> {self.serial}: {self.serial_reason}")
        if self.state_changed:
            lines.append(f"  state file {self.state_file} updated (which records are managed)")
        if not self.changed:
            lines.append("  nothing to change")
        lines += [f"  note: {n}" for n in self.notes]
        for r in self.refusals:
            if r.overridden:
                lines.append(f"  allowed by {r.allowed_by}: {r.reason}")
            else:
                how = f"rerun with {r.allowed_by} to allow it" if r.allowed_by else "no flag"
                lines.append(f"  REFUSED ({how}): {r.reason}")
        return "\n".join(lines) + "\n"

    def to_dict(self, *, file_diff: bool = True) -> dict[str, Any]:
        """Return a JSON-ready dict (the file diff only with ``file_diff``)."""
        data = {
            "zone": self.zone,
            "zone_file": self.zone_file,
            "state_file": self.state_file,
            "serial_before": self.serial_before,
            "serial": self.serial,
            "serial_reason": self.serial_reason,
            "changed": self.changed,
            "zone_changed": self.zone_changed,
            "state_changed": self.state_changed,
            "created": self.created,
            "added": [c.to_dict() for c in self.changes if c.action == Action.ADD],
            "changed_records": [c.to_dict() for c in self.changes if c.action == Action.CHANGE],
            "removed": [c.to_dict() for c in self.changes if c.action == Action.REMOVE],
            "adopted": [_record_dict(r) for r in self.adopted],
            "foreign_kept": len(self.foreign),
            "foreign_kept_records": [_record_dict(r) for r in self.foreign],
            "refusals": [r.to_dict() for r in self.refusals],
            "refused": bool(self.refused),
            "notes": list(self.notes),
        }
        if file_diff:
            data["diff"] = self.diff
        return data


def rkey(r: ZoneRecord) -> tuple[str, str, str, int | None]:
    """A record as ``(owner lower case, type, value, TTL)``, to compare records."""
    return r.name.lower(), r.rtype, r.value, r.ttl


def as_record(r: Located) -> ZoneRecord:
    """A record read from the zone file, its ``source`` saying where (``line 12``)."""
    return ZoneRecord(r.name, r.rtype, r.value, r.ttl, r.where)


def source_of(records: Iterable[ZoneRecord]) -> str:
    """Where records come from, for the plan's reasons (``public_services``, ``inventory``)."""
    return ", ".join(sorted({r.source for r in records if r.source})) or "inventory"


def file_diff(
    spec: ZoneSpec, current: str | None, content: str, before: int | None, after: int
) -> str:
    """The unified diff of the zone file, its serial before and after in the file names."""
    if content == (current or ""):
        return ""
    return "".join(
        difflib.unified_diff(
            (current or "").splitlines(keepends=True),
            content.splitlines(keepends=True),
            fromfile=f"{spec.zone_file} (serial {before if before is not None else 'none'})",
            tofile=f"{spec.zone_file} (serial {after})",
        )
    )
