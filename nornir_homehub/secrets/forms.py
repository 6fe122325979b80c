"""The forms a secret value takes in output, and text searched with its line breaks removed.

One place for what the redactor (`secret_patterns`, regexes) and the leak scanner
(`nornir_homehub.testing.secret_scan`, concrete byte strings) both need: the base64 text of a
value at each alignment (`base64_forms`) and text without its line breaks, with positions
mapped back (`Unbroken`). The tests encode every form a third way (tests/unit/secret_forms.py),
so a mistake here fails their cases.
"""

from __future__ import annotations

import base64
import bisect
import re
from dataclasses import dataclass
from typing import AnyStr, Generic

__all__ = ["Unbroken", "b64_fragments", "base64_forms", "secret_patterns", "unbroken"]

# A line break inside a value, as a wrapped line shows it: LF or CRLF, then any indentation.
_BREAK = re.compile(r"\r?\n[ \t]*")
_BREAK_BYTES = re.compile(rb"\r?\n[ \t]*")
_JSON_SHORT = {
    '"': '\\"',
    "\\": "\\\\",
    "/": "\\/",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
# Short base64 fragments would match ordinary text; a fragment of 8+ characters is specific.
_MIN_B64 = 8


def _utf8(text: str) -> bytes:
    """UTF-8 bytes of ``text``, lone surrogates (from undecodable input) included."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _any_case_hex(digits: str) -> str:
    """Regex matching the hex ``digits`` in upper, lower or mixed case."""
    return "".join(f"[{d.lower()}{d.upper()}]" if d.isalpha() else d for d in digits)


def _char_pattern(char: str, *, in_break: bool) -> str:
    """Regex for one character of a value, raw or escaped as URL or JSON text would escape it.

    ``in_break``: the character belongs to a line break of the value itself (newline plus the
    indentation after it); redaction searches text with line breaks removed, so there the raw
    character is matched by nothing.
    """
    alts = ["" if in_break else re.escape(char)]
    alts.append("".join("%" + _any_case_hex(f"{b:02X}") for b in _utf8(char)))
    if char == " ":
        alts.append(r"\+")
    if char in _JSON_SHORT:
        alts.append(re.escape(_JSON_SHORT[char]))
    code = ord(char)
    units = (
        [code] if code <= 0xFFFF else [0xD800 + ((code - 0x10000) >> 10), 0xDC00 + (code & 0x3FF)]
    )
    alts.append("".join(r"\\u" + _any_case_hex(f"{u:04X}") for u in units))
    return "(?:" + "|".join(alts) + ")"


def _text_pattern(value: str) -> str:
    """Regex for ``value`` raw, URL-encoded (any case, ``+`` for space) or JSON-escaped."""
    out = []
    in_break = False
    for char in value:
        if char == "\n":
            in_break = True
        elif char not in " \t\r":
            in_break = False
        out.append(_char_pattern(char, in_break=in_break and char in "\n\r \t"))
    return "".join(out)


def base64_forms(raw: bytes) -> list[tuple[str, str]]:
    """Base64 text that encodes ``raw`` wherever it sits in a longer blob, by form name.

    For each of the three byte offsets modulo 3 (``base64+0`` .. ``base64+2``), the characters
    fully determined by ``raw`` alone, in the standard alphabet and the URL-safe one
    (``base64url+N``). Short or repeated fragments are kept: callers filter.
    """
    out: list[tuple[str, str]] = []
    for prefix in range(3):
        enc = base64.b64encode(b"\0" * prefix + raw).decode()
        start = -(-8 * prefix // 6)
        end = (8 * (prefix + len(raw))) // 6
        fragment = enc[start:end]
        out.append((f"base64+{prefix}", fragment))
        out.append((f"base64url+{prefix}", fragment.replace("+", "-").replace("/", "_")))
    return out


def b64_fragments(raw: bytes) -> list[str]:
    """Base64 text that encodes ``raw`` wherever it sits in a longer blob (3 alignments).

    The distinct `base64_forms` of ``raw``, standard and URL-safe. Fragments shorter than 8
    characters are left out (they would match ordinary text).
    """
    out: list[str] = []
    for _name, form in base64_forms(raw):
        if len(form) >= _MIN_B64 and form not in out:
            out.append(form)
    return out


def secret_patterns(value: str) -> list[str]:
    """Regexes matching every form ``value`` takes in output, once line breaks are removed.

    Raw; URL-encoded (upper, lower or mixed case hex; ``+`` or ``%20`` for a space);
    JSON-escaped (short escapes and ``uXXXX`` escapes); hex of its UTF-8 bytes (any case); base64
    at all three alignments, standard and URL-safe, with the padding that may follow. A value
    wrapped over lines is matched by searching text with its line breaks removed (`Redactor`).
    """
    raw = _utf8(value)
    patterns = [_text_pattern(value), "(?i:" + raw.hex() + ")"]
    patterns += [re.escape(f) + "={0,2}" for f in b64_fragments(raw)]
    return patterns


@dataclass(frozen=True)
class Unbroken(Generic[AnyStr]):
    """Text (str or bytes) with its line breaks removed, and the way back to the original.

    Attributes:
        text: the text without line breaks (a value wrapped over lines is whole again).
        joined_starts: where each kept piece starts in ``text``.
        orig_starts: where the same piece starts in the original.

    """

    text: AnyStr
    joined_starts: list[int]
    orig_starts: list[int]

    def original(self, pos: int) -> int:
        """The position in the original text of position ``pos`` of `text`."""
        i = bisect.bisect_right(self.joined_starts, pos) - 1
        return self.orig_starts[i] + pos - self.joined_starts[i]


def unbroken(text: AnyStr) -> Unbroken[AnyStr]:
    """``text`` without its line breaks (LF or CRLF and the indentation after them)."""
    breaks = _BREAK_BYTES if isinstance(text, bytes) else _BREAK
    joined_starts = [0]
    orig_starts = [0]
    pieces: list[AnyStr] = []
    pos = 0
    for m in breaks.finditer(text):
        pieces.append(text[pos : m.start()])
        pos = m.end()
        joined_starts.append(joined_starts[-1] + len(pieces[-1]))
        orig_starts.append(pos)
    pieces.append(text[pos:])
    return Unbroken(text[:0].join(pieces), joined_starts, orig_starts)
