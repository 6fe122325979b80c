"""Reading a zone file's entries into records, the way dnspython's zone reader does (pure).

The reader follows ``$ORIGIN`` and ``$TTL``, a blank owner continuing the previous one, the TTL
and class in either order, ``$GENERATE`` (expanded by dnspython in the context it is written
in) and ``$INCLUDE`` (the included file's text, fetched by the caller, read in its own
context; never edited). `plan.zonefile.parse_zone_file` is the entry point.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.ttl
import dns.zone

from nornir_homehub.defaults import DEFAULT_NAMED_DIRECTORY
from nornir_homehub.errors import PlanError
from nornir_homehub.plan.zonelines import (
    Context,
    Entry,
    EntryKind,
    Located,
    Token,
    dnspython_records,
    scan_line,
)

# Debian's bind9 `options { directory "/var/cache/bind"; }`: where named (and so $INCLUDE
# with a relative path) resolves relative file names.
MAX_INCLUDE_DEPTH = 5


@dataclass
class ReaderState:
    """What the reader knows at a point of the file: origin, last owner and TTLs in effect."""

    origin: dns.name.Name
    last_name: dns.name.Name | None = None
    last_ttl: int | None = None
    default_ttl: int | None = None
    ttl_directive: bool = False

    def context(self) -> Context:
        """What a new line written here inherits."""
        return Context(self.origin, self.default_ttl, self.ttl_directive)

    def implicit_ttl(self) -> int | None:
        """The TTL of a record written here without one."""
        # dnspython's rfc2308_ttl rule (and BIND's): an explicit $TTL wins; otherwise the last
        # TTL written on a record (RFC 1035), before a default taken from the SOA minimum.
        if self.last_ttl is not None and (self.default_ttl is None or not self.ttl_directive):
            return self.last_ttl
        return self.default_ttl


def _is_ttl(text: str) -> int | None:
    try:
        return dns.ttl.from_text(text)
    except dns.ttl.BadTTL:
        return None


def _is_class(text: str) -> bool:
    try:
        dns.rdataclass.from_text(text)
    except Exception:  # dnspython raises several kinds for "not a class"
        return False
    return True


class Reader:
    """Reads one file (the zone file or an included one) into entries and records."""

    def __init__(self, zone: dns.name.Name, includes: Mapping[str, str], include_dir: str) -> None:
        self.zone = zone
        self.include_texts = includes
        self.include_dir = include_dir
        self.included: list[str] = []
        self.missing: list[str] = []

    def read(
        self, text: str, where: str, state: ReaderState, depth: int = 0
    ) -> tuple[tuple[str, ...], list[Entry], list[Located]]:
        """Read ``text`` (called ``where`` in messages): its lines, entries and records."""
        lines = tuple(text.splitlines(keepends=True))
        entries: list[Entry] = []
        records: list[Located] = []
        i = 0
        while i < len(lines):
            first = i
            tokens, paren = scan_line(lines[i], i, 0, where)
            while paren > 0:
                i += 1
                if i >= len(lines):
                    raise PlanError(f"{where} line {first + 1}: `(` is never closed")
                more, paren = scan_line(lines[i], i, paren, where)
                tokens += more
            entry = self._entry(lines, first, i, tuple(tokens), state, where)
            index = len(entries)
            entries.append(entry)
            records += self._records(entry, lines, index, state, where, depth)
            i += 1
        return lines, entries, records

    def _entry(
        self,
        lines: Sequence[str],
        first: int,
        last: int,
        tokens: tuple[Token, ...],
        state: ReaderState,
        where: str,
    ) -> Entry:
        ctx = state.context()
        if not tokens:
            return Entry(EntryKind.TRIVIA, first, last, tokens, ctx)
        if tokens[0].col == 0 and tokens[0].text.startswith("$"):
            name = tokens[0].text.upper()
            kinds = {k.value: k for k in EntryKind if k.value.startswith("$")}
            if name not in kinds:
                raise PlanError(f"{where} line {first + 1}: unknown directive {tokens[0].text}")
            return Entry(kinds[name], first, last, tokens, ctx)
        blank = lines[first][:1] in (" ", "\t")
        record = Entry(EntryKind.RECORD, first, last, tokens, ctx, blank_owner=blank)
        return self._record_entry(record, state, f"{where} line {first + 1}")

    def _record_entry(self, entry: Entry, state: ReaderState, at: str) -> Entry:
        """Fill in a record line's owner, TTL and type (``at``: where it is, for messages)."""
        tokens, blank = entry.tokens, entry.blank_owner
        index = 0
        if blank:
            if state.last_name is None:
                raise PlanError(f"{at}: a record without owner name before any owner name")
            owner = state.last_name
        else:
            owner = _name(tokens[0].text, state.origin, at)
            state.last_name = owner
            index = 1
        if not owner.is_subdomain(self.zone):
            return replace(entry, owner=owner, in_zone=False)
        ttl: int | None = None
        ttl_token: int | None = None

        def take_ttl() -> None:
            nonlocal ttl, ttl_token, index
            if ttl is None and index < len(tokens):
                value = _is_ttl(tokens[index].text)
                if value is not None:
                    ttl, ttl_token = value, index
                    state.last_ttl = value
                    index += 1

        take_ttl()
        if index < len(tokens) and _is_class(tokens[index].text):
            if tokens[index].text.upper() != "IN":
                raise PlanError(f"{at}: record class {tokens[index].text} is not IN")
            index += 1
        take_ttl()
        if index >= len(tokens):
            raise PlanError(f"{at}: record without a type")
        try:
            rdtype = dns.rdatatype.to_text(dns.rdatatype.from_text(tokens[index].text))
        except dns.exception.DNSException:
            raise PlanError(f"{at}: unknown record type {tokens[index].text!r}") from None
        return replace(
            entry, owner=owner, ttl=ttl, ttl_token=ttl_token, type_index=index, rdtype=rdtype
        )

    def _records(  # noqa: PLR0911 - one return per entry kind
        self,
        entry: Entry,
        lines: Sequence[str],
        index: int,
        state: ReaderState,
        where: str,
        depth: int,
    ) -> list[Located]:
        at = f"{where} line {entry.first + 1}"
        kind = entry.kind
        if kind == EntryKind.TRIVIA:
            return []
        if kind == EntryKind.ORIGIN:
            state.origin = _name(_arg(entry, 1, at), state.origin, at)
            return []
        if kind == EntryKind.TTL:
            value = _is_ttl(_arg(entry, 1, at))
            if value is None:
                raise PlanError(f"{at}: bad $TTL {entry.tokens[1].text!r}")
            state.default_ttl, state.ttl_directive = value, True
            return []
        if kind == EntryKind.GENERATE:
            return self._generate(entry, lines, index, state, at)
        if kind == EntryKind.INCLUDE:
            return self._include(entry, state, at, depth)
        if not entry.in_zone:
            return []
        return [self._record(entry, index, state, at)]

    def _record(self, entry: Entry, index: int, state: ReaderState, at: str) -> Located:
        assert entry.owner is not None  # noqa: S101 - set for every in-zone record entry
        rdtype = dns.rdatatype.from_text(entry.rdtype)
        text = " ".join(t.text for t in entry.tokens[entry.type_index + 1 :])
        try:
            rd = dns.rdata.from_text(
                dns.rdataclass.IN, rdtype, text, origin=state.origin, relativize=False
            )
        except dns.exception.DNSException as exc:
            raise PlanError(f"{at}: invalid {entry.rdtype} data `{text}`: {exc}") from None
        ttl = entry.ttl if entry.ttl is not None else state.implicit_ttl()
        if state.default_ttl is None and rdtype == dns.rdatatype.SOA:
            # Without $TTL the SOA minimum becomes the default (BIND 8 style files).
            state.default_ttl = rd.minimum  # type: ignore[attr-defined]
            ttl = ttl if ttl is not None else state.implicit_ttl()
        if ttl is None:
            raise PlanError(f"{at}: record without TTL and no $TTL before it")
        name = entry.owner.relativize(self.zone).to_text()
        return Located(
            name=name,
            rtype=entry.rdtype,
            value=rd.to_text(origin=self.zone, relativize=False),
            ttl=ttl,
            entry=index,
            where=f"line {entry.first + 1}",
        )

    def _generate(
        self, entry: Entry, lines: Sequence[str], index: int, state: ReaderState, at: str
    ) -> list[Located]:
        """Expand a $GENERATE line with dnspython, in the context it is written in."""
        ttl = state.implicit_ttl()
        head = f"$ORIGIN {self.zone.to_text()}\n@ 0 IN SOA a. b. 1 1 1 1 1\n"
        head += f"$TTL {ttl}\n" if ttl is not None else ""
        head += f"$ORIGIN {state.origin.to_text()}\n"
        body = "".join(lines[entry.first : entry.last + 1])
        try:
            zone = dns.zone.from_text(
                head + body, origin=self.zone, relativize=True, check_origin=False
            )
        except dns.exception.DNSException as exc:
            raise PlanError(f"{at}: invalid $GENERATE: {exc_text(exc)}") from None
        where = f"$GENERATE line {entry.first + 1}"
        return [
            Located(owner, rtype, value, ttl, index, where)
            for owner, rtype, value, ttl in dnspython_records(zone, self.zone)
            if (owner, rtype) != ("@", "SOA")
        ]

    def _include(self, entry: Entry, state: ReaderState, at: str, depth: int) -> list[Located]:
        path = include_path(_arg(entry, 1, at), self.include_dir)
        origin = state.origin
        if len(entry.tokens) > 2:
            origin = _name(entry.tokens[2].text, state.origin, at)
        self.included.append(path)
        text = self.include_texts.get(path)
        if text is None:
            self.missing.append(path)
            return []
        if depth >= MAX_INCLUDE_DEPTH:
            raise PlanError(f"{at}: $INCLUDE nested more than {MAX_INCLUDE_DEPTH} deep")
        inner = ReaderState(origin, state.last_name, state.last_ttl, state.default_ttl)
        inner.ttl_directive = state.ttl_directive
        _, _, records = self.read(text, f"$INCLUDE {path}", inner, depth + 1)
        return [replace(r, entry=-1, where=f"$INCLUDE {path}") for r in records]


def _arg(entry: Entry, i: int, at: str) -> str:
    if len(entry.tokens) <= i:
        raise PlanError(f"{at}: {entry.kind.value} needs an argument")
    return entry.tokens[i].text


def _name(text: str, origin: dns.name.Name, at: str) -> dns.name.Name:
    try:
        return origin if text == "@" else dns.name.from_text(text, origin=origin)
    except dns.exception.DNSException as exc:
        raise PlanError(f"{at}: {text!r} is not a valid name: {exc}") from None


def exc_text(exc: BaseException) -> str:
    """A dnspython error as text (its class name when it has no message)."""
    return str(exc) or type(exc).__name__


def include_path(path: str, include_dir: str = DEFAULT_NAMED_DIRECTORY) -> str:
    """Return the absolute path named reads for ``$INCLUDE path`` (relative: named's folder)."""
    path = path.strip('"')
    return posixpath.normpath(path if path.startswith("/") else posixpath.join(include_dir, path))
