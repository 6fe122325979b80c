"""A BIND zone file kept as text and read record by record, remembering where each is (pure).

`parse_zone_file` reads a master file the way dnspython's zone reader does (``$ORIGIN``,
``$TTL``, a blank owner continuing the previous one, parentheses over several lines, ``;``
comments outside quoted strings, ``$GENERATE``, ``$INCLUDE``) and remembers where each record
is written, so `plan.zoneedit.edit_zone_file` can remove, replace and add records without
touching any other line: foreign records keep their text, TTL, comments and position. The
records read are cross-checked against dnspython's own reading of the same text.

``$INCLUDE``d files are never edited: their text (fetched from the host by the caller) only
tells which records they add. ``$GENERATE`` lines are kept as they are; dnspython expands
them to learn their records. The pieces of a file are `plan.zonelines`, the reading rules
`plan.zonereader`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dns.exception
import dns.name
import dns.rdatatype
import dns.zone

from nornir_homehub.defaults import DEFAULT_NAMED_DIRECTORY
from nornir_homehub.errors import PlanError
from nornir_homehub.plan.zonelines import EntryKind, Located, dnspython_records
from nornir_homehub.plan.zonereader import (
    MAX_INCLUDE_DEPTH,
    Reader,
    ReaderState,
    exc_text,
    include_path,
)

if TYPE_CHECKING:
    from nornir_homehub.plan.zonelines import Context, Entry, Token

__all__ = [
    "DEFAULT_NAMED_DIRECTORY",
    "MAX_INCLUDE_DEPTH",
    "Located",
    "ZoneFile",
    "include_path",
    "parse_zone_file",
    "records_of",
]


@dataclass(frozen=True)
class ZoneFile:
    """A parsed zone file: its lines, entries, records and what it includes.

    Attributes:
        zone: zone name without the trailing dot.
        lines: the physical lines, line endings kept.
        entries: one per logical line, in file order.
        records: every record (file, $GENERATE and included files), SOA included.
        end: the reader's state at the end of the file.
        includes: absolute paths of the ``$INCLUDE``d files, in order (nested ones too).
        missing_includes: included paths whose text was not given (records unknown).
        include_texts: the included files' text as given.
        include_dir: folder relative ``$INCLUDE`` paths are resolved against.

    """

    zone: str
    lines: tuple[str, ...]
    entries: tuple[Entry, ...]
    records: tuple[Located, ...]
    end: Context
    includes: tuple[str, ...] = ()
    missing_includes: tuple[str, ...] = ()
    include_texts: Mapping[str, str] = field(default_factory=dict, repr=False)
    include_dir: str = DEFAULT_NAMED_DIRECTORY

    @property
    def origin(self) -> dns.name.Name:
        """The zone origin."""
        return dns.name.from_text(self.zone)

    @property
    def soa(self) -> Located:
        """The SOA record (the zone file must have one at the apex)."""
        return next(r for r in self.records if r.rtype == "SOA")

    @property
    def serial(self) -> int:
        """The SOA serial."""
        return int(self.soa.value.split()[2])

    def soa_rdata_tokens(self) -> tuple[Token, ...]:
        """The SOA's seven rdata tokens (mname, rname, serial, refresh, retry, expire, min)."""
        entry = self.entries[self.soa.entry]
        return entry.tokens[entry.type_index + 1 :]


def parse_zone_file(
    text: str,
    zone: str,
    *,
    includes: Mapping[str, str] | None = None,
    include_dir: str = DEFAULT_NAMED_DIRECTORY,
    source: str = "zone file",
) -> ZoneFile:
    """Read a zone file record by record, remembering where each record is written.

    Args:
        text: the zone file.
        zone: the zone it describes (its origin).
        includes: text of ``$INCLUDE``d files by absolute path (missing ones: records unknown).
        include_dir: folder that relative ``$INCLUDE`` paths are resolved against.
        source: what to call the text in messages.

    Returns:
        The parsed file; its records are exactly what dnspython reads from the same text.

    Raises:
        PlanError: the text is not a valid zone for ``zone`` (the message names the line),
            or it has no SOA at the apex.

    """
    origin = dns.name.from_text(zone)
    reader = Reader(origin, includes or {}, include_dir)
    state = ReaderState(origin)
    lines, entries, records = reader.read(text, source, state)
    soas = [r for r in records if r.rtype == "SOA"]
    if not soas or soas[0].name != "@" or not soas[0].editable:
        raise PlanError(f"{source} for zone {zone} has no SOA record at the apex in the file")
    if len(soas) > 1:
        raise PlanError(f"{source} for zone {zone} has more than one SOA record")
    parsed = ZoneFile(
        zone=zone,
        lines=lines,
        entries=tuple(entries),
        records=tuple(records),
        end=state.context(),
        includes=tuple(reader.included),
        missing_includes=tuple(reader.missing),
        include_texts=dict(includes or {}),
        include_dir=include_dir,
    )
    _cross_check(parsed, source)
    return parsed


def _cross_check(parsed: ZoneFile, source: str) -> None:
    """The records must be what dnspython reads from the file (its $INCLUDE lines left out)."""
    skip = {
        n for e in parsed.entries if e.kind == EntryKind.INCLUDE for n in range(e.first, e.last + 1)
    }
    text = "".join("\n" if i in skip else line for i, line in enumerate(parsed.lines))
    try:
        zone = dns.zone.from_text(text, origin=parsed.origin, relativize=True, check_origin=False)
    except dns.exception.DNSException as exc:
        raise PlanError(
            f"{source} for zone {parsed.zone} does not parse: {exc_text(exc)}"
        ) from None
    theirs = {
        (owner.lower(), rtype, value): ttl
        for owner, rtype, value, ttl in dnspython_records(zone, parsed.origin)
    }
    ours: dict[tuple[str, str, str], int] = {}
    for r in parsed.records:
        if r.entry >= 0:
            key = (r.name.lower(), r.rtype, r.value)
            ours[key] = min(ours.get(key, r.ttl), r.ttl)
    if set(ours) != set(theirs):
        odd = sorted(set(ours) ^ set(theirs))[0]
        raise PlanError(
            f"{source} for zone {parsed.zone}: reading it line by line disagrees with dnspython "
            f"about `{' '.join(odd)}`; not editing it"
        )
    # One RRset has one TTL: dnspython keeps the smallest of its records' TTLs.
    rrset_ttl: dict[tuple[str, str], int] = {}
    for (owner, rtype, _), ttl in ours.items():
        rrset_ttl[(owner, rtype)] = min(rrset_ttl.get((owner, rtype), ttl), ttl)
    for key, ttl in theirs.items():
        if rrset_ttl[key[:2]] != ttl:
            raise PlanError(
                f"{source} for zone {parsed.zone}: TTL of `{' '.join(key)}` read as "
                f"{rrset_ttl[key[:2]]}, dnspython reads {ttl}; not editing it"
            )


def records_of(zf: ZoneFile) -> list[dict[str, Any]]:
    """The file's records as JSON-ready dicts (for tests and reports)."""
    return [
        {"name": r.name, "type": r.rtype, "value": r.value, "ttl": r.ttl, "where": r.where}
        for r in zf.records
    ]
