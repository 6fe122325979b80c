"""The pieces of a BIND zone file: tokens, logical lines (entries), the records they write.

A zone file is read physical line by physical line into tokens (`scan_line`); a logical line
(an `Entry`) is a record or a directive, possibly over several physical lines inside
parentheses, or trivia (blank, comment). Each record read remembers where it is written
(`Located`), which is what lets `plan.zoneedit` change one record without touching any other
line. The reader that turns entries into records is `plan.zonereader`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass

import dns.name
import dns.rdatatype
import dns.zone

from nornir_homehub.errors import PlanError

_SEPARATORS = ' \t\r\n;()"'


class EntryKind(enum.StrEnum):
    """What one logical line of a zone file is."""

    TRIVIA = "trivia"  # blank or comment only
    ORIGIN = "$ORIGIN"
    TTL = "$TTL"
    INCLUDE = "$INCLUDE"
    GENERATE = "$GENERATE"
    RECORD = "record"


@dataclass(frozen=True)
class Token:
    """A token of the file: its text and where it starts (0-based line and column)."""

    text: str
    line: int
    col: int


@dataclass(frozen=True)
class Context:
    """The reader's state before an entry: what a new line written there inherits.

    Attributes:
        origin: the ``$ORIGIN`` in effect.
        default_ttl: the TTL a record without one gets (``$TTL``, else the SOA minimum).
        ttl_directive: ``default_ttl`` comes from an explicit ``$TTL`` line.

    """

    origin: dns.name.Name
    default_ttl: int | None
    ttl_directive: bool


@dataclass(frozen=True)
class Entry:
    """One logical line (a record may span several physical lines inside parentheses).

    Attributes:
        kind: record, directive or trivia.
        first / last: first and last physical line (0-based, inclusive).
        tokens: the tokens outside comments, parentheses dropped.
        context: the reader's state before the entry.
        owner: absolute owner name (records).
        blank_owner: the record continues the previous owner (line starts with blanks).
        ttl: effective TTL (records).
        ttl_token: index of the explicit TTL token, or None.
        type_index: index of the type token (records).
        rdtype: record type (records).
        in_zone: False for a record outside the zone (named ignores it; kept as text).

    """

    kind: EntryKind
    first: int
    last: int
    tokens: tuple[Token, ...]
    context: Context
    owner: dns.name.Name | None = None
    blank_owner: bool = False
    ttl: int | None = None
    ttl_token: int | None = None
    type_index: int = 0
    rdtype: str = ""
    in_zone: bool = True


@dataclass(frozen=True)
class Located:
    """A record of the zone and where it comes from.

    Attributes:
        name: owner relative to the zone (``@`` for the apex).
        rtype: record type.
        value: rdata in canonical text, names absolute.
        ttl: effective TTL.
        entry: index of the entry that writes it (the $GENERATE line for generated records;
            -1 for records of an included file).
        where: ``line N``, ``$GENERATE line N`` or ``$INCLUDE PATH``.

    """

    name: str
    rtype: str
    value: str
    ttl: int
    entry: int
    where: str

    @property
    def editable(self) -> bool:
        """True when the record is its own line of the zone file (not included or generated)."""
        return self.where.startswith("line ")

    @property
    def key(self) -> tuple[str, str]:
        """``(owner lower case, type)``: the RRset the record belongs to."""
        return self.name.lower(), self.rtype


def scan_line(line: str, number: int, depth: int, where: str) -> tuple[list[Token], int]:
    """Split one physical line into tokens; return them and the parenthesis depth after it."""
    tokens: list[Token] = []
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if c in " \t\r\n":
            i += 1
            continue
        if c == ";":
            break
        if c in "()":
            depth += 1 if c == "(" else -1
            if depth < 0:
                raise PlanError(f"{where} line {number + 1}: `)` without `(`")
            i += 1
            continue
        start = i
        if c == '"':
            i += 1
            while i < n and line[i] != '"':
                i += 2 if line[i] == "\\" else 1
            if i >= n:
                raise PlanError(f"{where} line {number + 1}: unterminated quoted string")
            i += 1
        else:
            while i < n and line[i] not in _SEPARATORS:
                i += 2 if line[i] == "\\" else 1
        tokens.append(Token(line[start : min(i, n)], number, start))
    return tokens, depth


def dnspython_records(
    zone: dns.zone.Zone, origin: dns.name.Name
) -> Iterator[tuple[str, str, str, int]]:
    """Every record dnspython read into ``zone``: owner (relative), type, value, TTL.

    The value is in canonical text with names absolute, as the rest of the package keeps it.
    """
    for name, rdataset in zone.iterate_rdatasets():
        rtype = dns.rdatatype.to_text(rdataset.rdtype)
        for rd in rdataset:
            yield name.to_text(), rtype, rd.to_text(origin=origin, relativize=False), rdataset.ttl
