"""Write a secret in one of the forms of cases/secrets/forms.yaml (the tests' own encoder).

This is a third, plain implementation of the forms (next to the redactor's regexes and the
scanner's byte strings), so that a mistake in either shows as a failing case.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from pathlib import Path
from typing import Any

import yaml

CASES = Path(__file__).parent / "cases" / "secrets"
FORM_CASES: list[dict[str, Any]] = yaml.safe_load((CASES / "forms.yaml").read_text())


def _mixed(quoted: str) -> str:
    """``%2F%3A`` -> ``%2f%3A``: every other escape lower case."""
    n = iter(range(10**6))
    return re.sub(
        r"%[0-9A-F]{2}", lambda m: m.group(0).lower() if next(n) % 2 else m.group(0), quoted
    )


def _b64(value: bytes, prefix: bytes, urlsafe: bool, wrap: int | None) -> tuple[str, int]:
    """Base64 of ``prefix + value + b'!'``; offset where the value's own characters begin."""
    enc = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(
        prefix + value + b"!"
    ).decode()
    start = -(-8 * len(prefix) // 6)
    if wrap:
        lines = [enc[i : i + wrap] for i in range(0, len(enc), wrap)]
        return "\n".join(lines), start + start // wrap
    return enc, start


def encode(value: str, form: str, prefix_bytes: str = "") -> tuple[str, int]:
    """The text of ``value`` in ``form``, and where in it the secret's form starts."""
    raw = value.encode()
    simple = {
        "raw": value,
        "url-upper": urllib.parse.quote(value, safe=""),
        "url-lower": re.sub(
            r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), urllib.parse.quote_plus(value, safe="")
        ),
        "url-mixed": _mixed(urllib.parse.quote(value, safe="")),
        "url-plus": urllib.parse.quote_plus(value, safe=""),
        "json": json.dumps(value, ensure_ascii=False)[1:-1],
        "json-ascii": json.dumps(value)[1:-1],
        "hex-lower": raw.hex(),
        "hex-upper": raw.hex().upper(),
    }
    if form in simple:
        return simple[form], 0
    if form == "base64-mime":
        return _b64(raw, prefix_bytes.encode() or b"x", False, 76)
    kind, _, align = form.partition("+")
    prefix = prefix_bytes.encode() or b"ab"[: int(align)]
    return _b64(raw, prefix, kind == "base64url", None)


def wrap(text: str, at: list[int], indent: str = "", crlf: bool = False) -> str:
    """Insert a line break (and ``indent``) before each position of ``at`` in ``text``."""
    out = []
    last = 0
    for pos in sorted(at):
        out.append(text[last:pos])
        out.append(("\r\n" if crlf else "\n") + indent)
        last = pos
    out.append(text[last:])
    return "".join(out)


def build(case: dict[str, Any]) -> tuple[str, int]:
    """The case's whole text, and the offset (in characters) where the secret's form starts."""
    body, start = encode(case["value"], case["form"], case.get("prefix_bytes", ""))
    if case.get("wrap"):
        body = wrap(body, case["wrap"], case.get("indent", ""), case.get("crlf", False))
    before = case.get("before", "before text: ")
    after = case.get("after", " :after text")
    return before + body + after, len(before) + start
