"""Editing a zone file in place: remove, replace and add records, every other line kept (pure).

An edit names the entries to delete, the records to insert before an entry, and new text for
single tokens (the SOA serial and fields); `edit_zone_file` applies it to the file's text and
reads the result back. A kept record that continued the owner (or, without ``$TTL``, the TTL)
of a line that moved gets it written out, so it keeps meaning what it meant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import dns.name

from nornir_homehub.errors import PlanError
from nornir_homehub.plan.zonefile import ZoneFile, parse_zone_file
from nornir_homehub.plan.zonelines import Context, EntryKind


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
