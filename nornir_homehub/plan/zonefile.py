"""A BIND zone file kept as text: read record by record, edited line by line (pure).

`parse_zone_file` reads a master file the way dnspython's zone reader does (``$ORIGIN``,
``$TTL``, a blank owner continuing the previous one, parentheses over several lines, ``;``
comments outside quoted strings, ``$GENERATE``, ``$INCLUDE``) and remembers where each record
is written, so `edit_zone_file` can remove, replace and add records without touching any other
line: foreign records keep their text, TTL, comments and position. The records read are
cross-checked against dnspython's own reading of the same text.

``$INCLUDE``d files are never edited: their text (fetched from the host by the caller) only
tells which records they add. ``$GENERATE`` lines are kept as they are; dnspython expands
them to learn their records.
"""

from __future__ import annotations

import enum
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.ttl
import dns.zone

from nornir_homehub.defaults import DEFAULT_NAMED_DIRECTORY
from nornir_homehub.errors import PlanError

# Debian's bind9 `options { directory "/var/cache/bind"; }`: where named (and so $INCLUDE
# with a relative path) resolves relative file names.
MAX_INCLUDE_DEPTH = 5
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


# -- reading ---------------------------------------------------------------------------------


def _scan(line: str, number: int, depth: int, where: str) -> tuple[list[Token], int]:
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


@dataclass
class _State:
    origin: dns.name.Name
    last_name: dns.name.Name | None = None
    last_ttl: int | None = None
    default_ttl: int | None = None
    ttl_directive: bool = False

    def context(self) -> Context:
        return Context(self.origin, self.default_ttl, self.ttl_directive)

    def implicit_ttl(self) -> int | None:
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


class _Reader:
    """Reads one file (the zone file or an included one) into entries and records."""

    def __init__(self, zone: dns.name.Name, includes: Mapping[str, str], include_dir: str) -> None:
        self.zone = zone
        self.include_texts = includes
        self.include_dir = include_dir
        self.included: list[str] = []
        self.missing: list[str] = []

    def read(
        self, text: str, where: str, state: _State, depth: int = 0
    ) -> tuple[tuple[str, ...], list[Entry], list[Located]]:
        lines = tuple(text.splitlines(keepends=True))
        entries: list[Entry] = []
        records: list[Located] = []
        i = 0
        while i < len(lines):
            first = i
            tokens, paren = _scan(lines[i], i, 0, where)
            while paren > 0:
                i += 1
                if i >= len(lines):
                    raise PlanError(f"{where} line {first + 1}: `(` is never closed")
                more, paren = _scan(lines[i], i, paren, where)
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
        state: _State,
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
        return self._record_entry(lines, first, last, tokens, state, where)

    def _record_entry(
        self,
        lines: Sequence[str],
        first: int,
        last: int,
        tokens: tuple[Token, ...],
        state: _State,
        where: str,
    ) -> Entry:
        ctx = state.context()
        at = f"{where} line {first + 1}"
        blank = lines[first][:1] in (" ", "\t")
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
            return Entry(EntryKind.RECORD, first, last, tokens, ctx, owner, blank, in_zone=False)
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
        return Entry(
            EntryKind.RECORD,
            first,
            last,
            tokens,
            ctx,
            owner=owner,
            blank_owner=blank,
            ttl=ttl,
            ttl_token=ttl_token,
            type_index=index,
            rdtype=rdtype,
        )

    def _records(  # noqa: PLR0911 - one return per entry kind
        self, entry: Entry, lines: Sequence[str], index: int, state: _State, where: str, depth: int
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

    def _record(self, entry: Entry, index: int, state: _State, at: str) -> Located:
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
        self, entry: Entry, lines: Sequence[str], index: int, state: _State, at: str
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
            raise PlanError(f"{at}: invalid $GENERATE: {_plain(exc)}") from None
        out = []
        for name, rdataset in zone.iterate_rdatasets():
            if rdataset.rdtype == dns.rdatatype.SOA and name.to_text() == "@":
                continue
            for rd in rdataset:
                out.append(
                    Located(
                        name=name.to_text(),
                        rtype=dns.rdatatype.to_text(rdataset.rdtype),
                        value=rd.to_text(origin=self.zone, relativize=False),
                        ttl=rdataset.ttl,
                        entry=index,
                        where=f"$GENERATE line {entry.first + 1}",
                    )
                )
        return out

    def _include(self, entry: Entry, state: _State, at: str, depth: int) -> list[Located]:
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
        inner = _State(origin, state.last_name, state.last_ttl, state.default_ttl)
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


def _plain(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def include_path(path: str, include_dir: str = DEFAULT_NAMED_DIRECTORY) -> str:
    """Return the absolute path named reads for ``$INCLUDE path`` (relative: named's folder)."""
    path = path.strip('"')
    return posixpath.normpath(path if path.startswith("/") else posixpath.join(include_dir, path))


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
    reader = _Reader(origin, includes or {}, include_dir)
    state = _State(origin)
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
        raise PlanError(f"{source} for zone {parsed.zone} does not parse: {_plain(exc)}") from None
    theirs: dict[tuple[str, str, str], int] = {}
    for name, rdataset in zone.iterate_rdatasets():
        for rd in rdataset:
            key = (
                name.to_text().lower(),
                dns.rdatatype.to_text(rdataset.rdtype),
                rd.to_text(origin=parsed.origin, relativize=False),
            )
            theirs[key] = rdataset.ttl
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


# -- editing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewRecord:
    """A record to write: owner relative to the zone, effective TTL, canonical value."""

    name: str
    rtype: str
    value: str
    ttl: int


@dataclass
class _Piece:
    entry: int | None = None  # original entry kept
    record: NewRecord | None = None  # new line
    context: Context | None = None  # for a new line
    text: str | None = None  # a literal line (comment)
    owner: dns.name.Name | None = None  # make the owner explicit
    ttl: int | None = None  # make the TTL explicit


@dataclass(frozen=True)
class ZoneEdit:
    """What to change in a zone file.

    Attributes:
        remove: indexes of entries to delete.
        insert: records to write before the entry of each index (``len(entries)``: at the end).
        tokens: new text for tokens, keyed by ``(line, column)`` of the original token.
        lines: new text for whole physical lines (trivia only, e.g. a header comment).
        append_comment: comment line written once before the first record added at the end.

    """

    remove: frozenset[int] = frozenset()
    insert: Mapping[int, Sequence[NewRecord]] = field(default_factory=dict)
    tokens: Mapping[tuple[int, int], str] = field(default_factory=dict)
    lines: Mapping[int, str] = field(default_factory=dict)
    append_comment: str = ""


def _owner_text(owner: dns.name.Name, origin: dns.name.Name) -> str:
    if owner.is_subdomain(origin):
        rel = owner.relativize(origin).to_text()
        return "@" if rel == "@" or owner == origin else rel
    return owner.to_text()


def format_record(record: NewRecord, zone: dns.name.Name, ctx: Context) -> str:
    """Return one zone file line for ``record`` written where ``ctx`` is in effect.

    The owner is written relative to the ``$ORIGIN`` in effect (absolute when outside it),
    names in the value are absolute, and the TTL is left out only when a ``$TTL`` line in
    effect gives the same one.
    """
    owner = dns.name.from_text(record.name, origin=zone) if record.name != "@" else zone
    ttl = "" if ctx.ttl_directive and ctx.default_ttl == record.ttl else str(record.ttl)
    return f"{_owner_text(owner, ctx.origin):<24} {ttl:<6} IN {record.rtype:<6} {record.value}\n"


def _old_text(zf: ZoneFile, piece: _Piece, edit: ZoneEdit) -> str:
    assert piece.entry is not None  # noqa: S101 - only called for kept entries
    entry = zf.entries[piece.entry]
    lines = [edit.lines.get(n, zf.lines[n]) for n in range(entry.first, entry.last + 1)]
    # Changes by position, right to left per line, so earlier columns stay valid.
    changes: list[tuple[int, int, int, str]] = []
    for t in entry.tokens:
        new = edit.tokens.get((t.line, t.col))
        if new is not None:
            changes.append((t.line, t.col, len(t.text), new))
    if piece.ttl is not None and entry.ttl_token is None:
        after_owner = entry.tokens[0 if entry.blank_owner else 1]
        changes.append((after_owner.line, after_owner.col, 0, f"{piece.ttl} "))
    for line, col, length, new in sorted(changes, reverse=True):
        i = line - entry.first
        lines[i] = lines[i][:col] + new + lines[i][col + length :]
    if piece.owner is not None and entry.blank_owner:
        lines[0] = _owner_text(piece.owner, entry.context.origin) + lines[0]
    return "".join(lines)


def _render(zf: ZoneFile, pieces: Sequence[_Piece], edit: ZoneEdit) -> str:
    out: list[str] = []
    for piece in pieces:
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n"
        if piece.entry is not None:
            out.append(_old_text(zf, piece, edit))
        elif piece.record is not None:
            assert piece.context is not None  # noqa: S101 - set with every new record
            out.append(format_record(piece.record, zf.origin, piece.context))
        else:
            out.append(piece.text or "\n")
    return "".join(out)


def edit_zone_file(zf: ZoneFile, edit: ZoneEdit) -> tuple[str, ZoneFile]:
    """Apply ``edit`` to the file's text; every line not named in it stays as it was.

    A record that continued the owner (or, without ``$TTL``, the TTL) of a removed or
    inserted line gets that owner (or TTL) written out, so it keeps meaning what it meant.

    Returns:
        The new text and its parsed form.

    Raises:
        PlanError: the result does not parse, or a kept record could not keep its meaning.

    """
    pieces: list[_Piece] = []
    for index in range(len(zf.entries) + 1):
        new = edit.insert.get(index, ())
        if new and index == len(zf.entries) and edit.append_comment:
            pieces.append(_Piece(text=edit.append_comment.rstrip("\n") + "\n"))
        ctx = zf.entries[index].context if index < len(zf.entries) else zf.end
        pieces += [_Piece(record=r, context=ctx) for r in new]
        if index < len(zf.entries) and index not in edit.remove:
            pieces.append(_Piece(entry=index))
    old_ttls = _ttl_by_entry(zf)
    _pin_context(zf, pieces, old_ttls)
    for _ in range(len(pieces) + 1):
        text = _render(zf, pieces, edit)
        parsed = parse_zone_file(
            text,
            zf.zone,
            includes=zf.include_texts,
            include_dir=zf.include_dir,
            source="candidate zone file",
        )
        if len(parsed.entries) != len(pieces):  # pragma: no cover - one piece is one entry
            raise PlanError(f"candidate zone file for {zf.zone}: edit changed the line structure")
        new_ttls = _ttl_by_entry(parsed)
        fixed = False
        for position, (piece, got) in enumerate(zip(pieces, parsed.entries, strict=True)):
            if piece.entry is None or zf.entries[piece.entry].kind != EntryKind.RECORD:
                continue
            want = zf.entries[piece.entry]
            if got.owner != want.owner and piece.owner is None:
                piece.owner, fixed = want.owner, True
            ttl = old_ttls.get(piece.entry)
            if ttl is not None and new_ttls.get(position) != ttl and piece.ttl is None:
                piece.ttl, fixed = ttl, True
        if not fixed:
            return text, parsed
    raise PlanError(  # pragma: no cover - each pass makes at least one more field explicit
        f"candidate zone file for {zf.zone}: kept records would change meaning"
    )


def _pin_context(zf: ZoneFile, pieces: Sequence[_Piece], ttls: Mapping[int, int]) -> None:
    """Write out the owner (and TTL) of kept lines whose previous record is no longer before.

    A blank owner continues the previous record's owner; without a ``$TTL`` line a record
    without TTL may inherit the previous one's. When the previous record line is removed or a
    new one is inserted before it, such a line would silently change meaning.
    """
    previous: dict[int, int | None] = {}
    last: int | None = None
    for index, entry in enumerate(zf.entries):
        if entry.kind == EntryKind.RECORD:
            previous[index] = last
            last = index
    before: object = None
    for piece in pieces:
        if piece.record is not None:
            before = piece
            continue
        if piece.entry is None or zf.entries[piece.entry].kind != EntryKind.RECORD:
            continue
        entry = zf.entries[piece.entry]
        if before != previous[piece.entry]:
            if entry.blank_owner:
                piece.owner = entry.owner
            if entry.ttl_token is None and not entry.context.ttl_directive:
                piece.ttl = ttls.get(piece.entry)
        before = piece.entry


def _ttl_by_entry(zf: ZoneFile) -> dict[int, int]:
    """Effective TTL of each record entry of the file itself."""
    return {r.entry: r.ttl for r in zf.records if r.editable}


def records_of(zf: ZoneFile) -> list[dict[str, Any]]:
    """The file's records as JSON-ready dicts (for tests and reports)."""
    return [
        {"name": r.name, "type": r.rtype, "value": r.value, "ttl": r.ttl, "where": r.where}
        for r in zf.records
    ]
