"""The record-level plan of an existing zone file: the inventory's records merged into it (pure).

The zone file is the operator's: per RRset, the inventory's records are added, changed,
adopted (identical foreign ones) or take over foreign ones; records the tool wrote that the
inventory no longer generates and names in ``dns_absent`` are removed; foreign records that
cannot stay beside the inventory's (the CNAME rule) conflict; everything else is kept
untouched. The edit is made in place (`plan.zoneedit`) and must read back as planned. What
needs a flag is recorded as a refusal (`plan.zonesafety`). The entry point is
`plan.zoneplan.plan_zone`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from nornir_homehub.errors import ZonePlanError
from nornir_homehub.plan.serial import plan_serial, serial_max
from nornir_homehub.plan.zonechanges import (
    Action,
    RecordChange,
    ZoneInputs,
    ZonePlan,
    as_record,
    file_diff,
    rkey,
    source_of,
)
from nornir_homehub.plan.zoneedit import NewRecord, ZoneEdit, edit_zone_file
from nornir_homehub.plan.zonerender import HEADER, LEGACY_HEADER
from nornir_homehub.plan.zonesafety import (
    Concern,
    conflicting,
    decide,
    not_editable,
    replaces_foreign,
    too_many_changes,
)
from nornir_homehub.plan.zonespec import Soa, ZoneRecord
from nornir_homehub.plan.zonestate import (
    ManagedRecord,
    make_zone_state,
    render_zone_state,
)

if TYPE_CHECKING:
    from nornir_homehub.plan.zonefile import ZoneFile
    from nornir_homehub.plan.zonelines import Located

APPEND_COMMENT = "; Added by nornir_homehub from the inventory (python -m nornir_homehub dns):"
# Types that may sit beside a CNAME (RFC 2181 10.1, RFC 4035): never a conflict.
_BESIDE_CNAME = frozenset({"RRSIG", "NSEC", "NSEC3", "KEY"})


def plan_existing_zone(
    run: ZoneInputs, zf: ZoneFile, current: str, *, prune: bool, force: bool
) -> ZonePlan:
    """Plan an existing, readable zone file record by record (see the module docstring)."""
    return _Planner(run, zf, current).plan(prune=prune, force=force)


def _soa_of(value: str) -> Soa:
    f = value.split()
    return Soa(f[0], f[1], int(f[3]), int(f[4]), int(f[5]), int(f[6]))


class _Planner:
    """Plans one existing zone file (state shared by the steps of `plan`)."""

    def __init__(self, run: ZoneInputs, zf: ZoneFile, current: str) -> None:
        spec = run.spec
        self.spec, self.zf, self.current, self.today = spec, zf, current, run.today
        self.served, self.state, self.notes = run.served, run.state, run.notes
        self.state_text, self.serial_high = run.state_text, run.serial_high
        self.located = [r for r in zf.records if r.rtype != "SOA"]
        self.cur: dict[tuple[str, str], list[Located]] = {}
        for r in self.located:
            self.cur.setdefault(r.key, []).append(r)
        self.want: dict[tuple[str, str], list[ZoneRecord]] = {}
        for w in spec.expected():
            self.want.setdefault((w.name.lower(), w.rtype), []).append(w)
        self.absent = {n.lower() for n in spec.absent}
        self.changes: list[RecordChange] = []
        self.concerns: list[Concern] = []
        self.adopted: list[ZoneRecord] = []
        self.remove: set[int] = set()
        self.insert: dict[int, list[NewRecord]] = {}
        self.touched = 0
        self.managed_after: list[ManagedRecord] = []
        self._ownership()

    def _ownership(self) -> None:
        first = self.zf.lines[0].rstrip("\r\n") if self.zf.lines else ""
        self.legacy = self.state is None and first == LEGACY_HEADER
        if self.state is not None:
            self.managed = self.state.keys()
            self.managed_ns = self.state.values("@", "NS")
            self.soa_managed = self.state.soa_managed
        elif self.legacy:
            self.managed = {r.key for r in self.located if r.editable}
            self.managed_ns = {r.value for r in self.cur.get(("@", "NS"), [])}
            self.soa_managed = True
            self.notes.append(
                "the zone was written by an earlier nornir_homehub (whole file generated): its "
                "records are taken as managed"
            )
        else:
            self.managed, self.managed_ns = set(), set()
            self.soa_managed = first == HEADER
            self.notes.append(
                "no state file: the zone is adopted; records nornir_homehub did not write are "
                "kept, the inventory's names are taken over"
            )
        for path in self.zf.missing_includes:
            self.notes.append(f"$INCLUDE {path} could not be read: its records are unknown here")

    # -- steps -----------------------------------------------------------------------------

    def plan(self, *, prune: bool, force: bool) -> ZonePlan:
        self._absent()
        for key, want in self.want.items():
            if key[0] in self.absent:
                continue  # zone_spec_from_inventory refuses a name both present and absent
            if key == ("@", "NS"):
                self._name_servers(want)
            else:
                self._generated(key, want)
        self._no_longer_generated()
        self._conflicts()
        tokens, soa_changed = self._soa()
        zone_edit = bool(self.remove or self.insert or soa_changed)
        serial, reason, must = plan_serial(
            self.zf.serial,
            self.served,
            self.serial_high,
            self.today,
            change=zone_edit,
        )
        if serial != self.zf.serial:
            t = self.zf.soa_rdata_tokens()[2]
            tokens[(t.line, t.col)] = str(serial)
        self._threshold()
        content, after = self._edit(tokens, zone_edit or must)
        foreign = self._check(after)
        high = serial_max(self.serial_high, self.served, serial)
        new_state = make_zone_state(
            self.spec.zone, self.managed_after, soa_managed=self.soa_managed, serial_high=high
        )
        state_content = render_zone_state(new_state)
        refusals = decide(self.concerns, prune=prune, force=force)
        return ZonePlan(
            zone=self.spec.zone,
            zone_file=self.spec.zone_file,
            state_file=self.spec.state_file,
            serial_before=self.zf.serial,
            serial=serial,
            serial_reason=reason,
            created=False,
            zone_changed=content != self.current,
            state_changed=state_content != self.state_text,
            changes=tuple(self.changes),
            adopted=tuple(self.adopted),
            foreign=foreign,
            records_before=tuple(sorted(as_record(r) for r in self.located)),
            records_after=tuple(sorted(as_record(r) for r in after.records if r.rtype != "SOA")),
            refusals=refusals,
            notes=tuple(self.notes),
            diff=file_diff(self.spec, self.current, content, self.zf.serial, serial),
            content=content,
            state_content=state_content,
        )

    def _fixed(self, records: Sequence[Located], what: str) -> bool:
        """Refuse (no flag helps) when records to change live in an include or $GENERATE."""
        fixed = not_editable(records, what)
        self.concerns += fixed
        return bool(fixed)

    def _drop(self, records: Iterable[Located]) -> None:
        for r in records:
            self.remove.add(r.entry)
            self.touched += 1

    def _remove(
        self,
        have: Sequence[Located],
        rtype: str,
        reason: str,
        *,
        foreign: bool = False,
        conflict: bool = False,
    ) -> None:
        """Drop the lines of ``have`` and record the RRset as removed, with ``reason``."""
        self._drop(have)
        before = tuple(as_record(r) for r in have)
        self.changes.append(
            RecordChange(Action.REMOVE, have[0].name, rtype, before, (), reason, foreign, conflict)
        )

    def _absent(self) -> None:
        for key, have in self.cur.items():
            if key[0] not in self.absent or self._fixed(have, "dns_absent"):
                continue
            reason = "dns_absent: removed whoever wrote it"
            self._remove(have, key[1], reason, foreign=key not in self.managed)

    def _position(self, name: str, replaced: Sequence[Located]) -> int:
        """Where new records of ``name`` go: in place of old ones, after its last line, or last."""
        if replaced:
            return min(r.entry for r in replaced)
        lines = [r.entry for r in self.located if r.editable and r.name.lower() == name.lower()]
        return max(lines) + 1 if lines else len(self.zf.entries)

    def _rewrite(
        self, key: tuple[str, str], have: Sequence[Located], want: Sequence[ZoneRecord], what: str
    ) -> bool:
        """Replace ``have`` by ``want`` touching only the lines whose record differs.

        Returns False (and refuses) when a record that must go is not a line of the file.
        """
        want_set = {(w.value, w.ttl) for w in want}
        have_set = {(h.value, h.ttl) for h in have}
        gone = [h for h in have if (h.value, h.ttl) not in want_set]
        if self._fixed(gone, what):
            return False
        new = [w for w in want if (w.value, w.ttl) not in have_set]
        at = self._position(key[0], gone)
        self._drop(gone)
        self.insert.setdefault(at, []).extend(
            NewRecord(w.name, w.rtype, w.value, int(w.ttl or self.spec.ttl)) for w in new
        )
        return True

    def _generated(self, key: tuple[str, str], want: list[ZoneRecord]) -> None:
        have = self.cur.get(key, [])
        self.managed_after += [
            ManagedRecord(w.name, w.rtype, w.value, int(w.ttl or self.spec.ttl)) for w in want
        ]
        if {(h.value, h.ttl) for h in have} == {(w.value, w.ttl) for w in want}:
            if key not in self.managed:
                self.adopted += want
            return
        if not self._rewrite(key, have, want, "taken over by the inventory"):
            return
        foreign = bool(have) and key not in self.managed
        lost = sorted({h.value for h in have} - {w.value for w in want}) if foreign else []
        reason = source_of(want) + (": foreign record taken over" if foreign else "")
        hand_edited = self.state is not None and {h.value for h in have} != self.state.values(*key)
        if have and key in self.managed and hand_edited:
            reason += " (edited by hand since the last run: restored)"
        self.changes.append(
            RecordChange(
                Action.CHANGE if have else Action.ADD,
                want[0].name,
                key[1],
                tuple(as_record(h) for h in have),
                tuple(want),
                reason,
                foreign=bool(lost),
            )
        )
        if lost:
            values = [w.value for w in want]
            self.concerns.append(
                replaces_foreign(want[0].name, key[1], lost, values, source_of(want))
            )

    def _name_servers(self, want: list[ZoneRecord]) -> None:
        """The apex NS set: ensure the inventory's servers, drop ours that left, keep others."""
        key = ("@", "NS")
        have = self.cur.get(key, [])
        want_values = {w.value for w in want}
        others = [h for h in have if h.value not in want_values and h.value not in self.managed_ns]
        ttl = min(h.ttl for h in have) if others else int(want[0].ttl or self.spec.ttl)
        target = [ZoneRecord(w.name, w.rtype, w.value, ttl, w.source) for w in want]
        self.managed_after += [ManagedRecord(w.name, w.rtype, w.value, ttl) for w in target]
        mine = [h for h in have if h not in others]
        if {(h.value, h.ttl) for h in mine} == {(w.value, w.ttl) for w in target}:
            self.adopted += [w for w in target if w.value not in self.managed_ns]
            return
        if not self._rewrite(key, mine, target, "name servers"):
            return
        after = tuple(sorted(target + [as_record(h) for h in others]))
        reason = "name servers: the inventory's dns hosts"
        if others:
            reason += f" (other name servers kept: {', '.join(h.value for h in others)})"
        self.changes.append(
            RecordChange(
                Action.CHANGE if have else Action.ADD,
                "@",
                "NS",
                tuple(as_record(h) for h in have),
                after,
                reason,
            )
        )

    def _no_longer_generated(self) -> None:
        for key in sorted(self.managed - set(self.want)):
            have = self.cur.get(key, [])
            if key[0] in self.absent or not have:
                continue
            if key == ("@", "NS"):
                have = [h for h in have if h.value in self.managed_ns]
            if not have or self._fixed(have, "no longer generated"):
                continue
            self._remove(have, key[1], "no longer in the inventory (nornir_homehub wrote it)")

    def _conflicts(self) -> None:
        """Foreign records that cannot coexist with the inventory's at the same name."""
        types: dict[str, set[str]] = {}
        for name, rtype in self.want:
            types.setdefault(name, set()).add(rtype)
        for key, have in sorted(self.cur.items()):
            name, rtype = key
            wanted = types.get(name)
            if not wanted or key in self.want or key in self.managed or name in self.absent:
                continue
            if rtype in _BESIDE_CNAME or not ("CNAME" in wanted or rtype == "CNAME"):
                continue
            if self._fixed(have, "conflicts with the inventory"):
                continue
            ours = ", ".join(sorted(f"{name} {t}" for t in wanted))
            values = ", ".join(h.value for h in have)
            reason = f"conflict: a CNAME cannot coexist with other data ({ours} from the inventory)"
            self._remove(have, rtype, reason, foreign=True, conflict=True)
            self.concerns.append(conflicting(have[0].name, rtype, ours, values))

    def _soa(self) -> tuple[dict[tuple[int, int], str], bool]:
        """Token replacements for the SOA fields the inventory sets (managed SOA only)."""
        have = _soa_of(self.zf.soa.value)
        want = self.spec.soa
        tokens: dict[tuple[int, int], str] = {}
        fields = ("mname", "rname", "", "refresh", "retry", "expire", "minimum")
        diffs = [(i, f) for i, f in enumerate(fields) if f and getattr(have, f) != getattr(want, f)]
        if not diffs:
            return tokens, False
        shown = ", ".join(f"{f} {getattr(have, f)} -> {getattr(want, f)}" for _, f in diffs)
        if not self.soa_managed:
            self.notes.append(
                f"SOA fields kept as the zone has them (adopted zone; the inventory would set "
                f"{shown}); only the serial is managed"
            )
            return tokens, False
        soa_tokens = self.zf.soa_rdata_tokens()
        for i, f in diffs:
            tokens[(soa_tokens[i].line, soa_tokens[i].col)] = str(getattr(want, f))
        soa = self.zf.soa
        self.changes.append(
            RecordChange(
                Action.CHANGE,
                "@",
                "SOA",
                (as_record(soa),),
                (ZoneRecord("@", "SOA", shown, soa.ttl, "dns_soa_*"),),
                "SOA fields from the inventory",
            )
        )
        return tokens, True

    def _threshold(self) -> None:
        concern = too_many_changes(len(self.located), self.touched, self.spec.max_change_percent)
        if concern is not None:
            self.concerns.append(concern)

    def _edit(self, tokens: dict[tuple[int, int], str], edit: bool) -> tuple[str, ZoneFile]:
        if not edit:
            return self.current, self.zf
        at_end = len(self.zf.entries)
        mark = "" if any(APPEND_COMMENT in line for line in self.zf.lines) else APPEND_COMMENT
        lines = {0: HEADER + "\n"} if self.legacy else {}
        return edit_zone_file(
            self.zf,
            ZoneEdit(
                remove=frozenset(self.remove),
                insert={k: v for k, v in self.insert.items() if v},
                tokens=tokens,
                lines=lines,
                append_comment=mark if self.insert.get(at_end) else "",
            ),
        )

    def _check(self, after: ZoneFile) -> tuple[ZoneRecord, ...]:
        """The edited file must hold exactly the planned records; return the foreign ones."""
        expect = [
            rkey(as_record(r)) for r in self.located if not (r.editable and r.entry in self.remove)
        ]
        expect += [
            (n.name.lower(), n.rtype, n.value, n.ttl) for new in self.insert.values() for n in new
        ]
        got = [rkey(as_record(r)) for r in after.records if r.rtype != "SOA"]
        if sorted(expect) != sorted(got):
            extra = sorted(set(got) - set(expect)) or sorted(set(expect) - set(got))
            raise ZonePlanError(
                f"editing {self.spec.zone_file} in place would also change "
                f"`{' '.join(map(str, extra[0]))}`; not changing the zone"
            )
        mine = {(m.name.lower(), m.rtype) for m in self.managed_after}
        ns_mine = {m.value for m in self.managed_after if (m.name, m.rtype) == ("@", "NS")}
        return tuple(
            sorted(
                as_record(r)
                for r in after.records
                if r.rtype != "SOA"
                and (r.key not in mine or (r.key == ("@", "NS") and r.value not in ns_mine))
            )
        )
