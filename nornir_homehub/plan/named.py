"""What named must be told about the zone: its stanza in ``named.conf.local`` (pure).

The zone is declared to named by a block between marker comments in ``named.conf.local``;
a zone already declared by hand with the same file is adopted as it is.
"""

from __future__ import annotations

import re

from nornir_homehub.errors import PlanError
from nornir_homehub.facts.dns import NAMED_CONF_LOCAL


def _markers(zone: str) -> tuple[str, str]:
    return (
        f"// BEGIN nornir_homehub zone {zone}",
        f"// END nornir_homehub zone {zone}",
    )


def render_stanza(zone: str, zone_file: str) -> str:
    """Return the ``named.conf.local`` block declaring the zone, between marker comments."""
    begin, end = _markers(zone)
    return (
        f"{begin} (managed: edit the inventory, not this block)\n"
        f'zone "{zone}" {{\n'
        "\ttype master;\n"
        f'\tfile "{zone_file}";\n'
        "};\n"
        f"{end}\n"
    )


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)
    return re.sub(r"(//|#).*", "", text)


def plan_stanza(conf: str | None, zone: str, zone_file: str) -> str | None:
    """Return the new ``named.conf.local`` text, or None when the zone's stanza is in place.

    A block between our markers is replaced when it differs. A zone stanza for the same zone
    written by someone else (a hand-made zone being adopted) is left as it is when it names
    the same zone file; otherwise it is refused rather than duplicated (named would fail).

    Raises:
        PlanError: ``named.conf.local`` declares the zone outside our markers with another
            file (the message names both paths and the inventory key that adopts it).

    """
    text = conf or ""
    begin, end = _markers(zone)
    block = render_stanza(zone, zone_file)
    start = text.find(begin)
    if start >= 0:
        stop = text.find(end, start)
        if stop >= 0:
            stop = text.find("\n", stop)
            stop = len(text) if stop < 0 else stop + 1
            if text[start:stop] == block:
                return None
            return text[:start] + block + text[stop:]
    pattern = re.compile(r'\bzone\s+"?' + re.escape(zone) + r'\.?"?\s*(in\s+)?\{', re.IGNORECASE)
    bare = _strip_comments(text)
    found = pattern.search(bare)
    if found:
        declared = re.search(
            r'\bfile\s+"([^"]*)"', bare[found.end() : bare.find("};", found.end())]
        )
        if declared and declared.group(1) == zone_file:
            return None
        raise PlanError(
            f"{NAMED_CONF_LOCAL} already declares zone {zone} outside nornir_homehub's "
            f"markers with file {declared.group(1) if declared else '(none)'}, not {zone_file}: "
            "set dns_zone_file to that path in the inventory to adopt that zone, or remove "
            "the stanza"
        )
    if text and not text.endswith("\n"):
        text += "\n"
    return text + ("\n" if text and not text.endswith("\n\n") else "") + block
