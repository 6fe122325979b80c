"""What named must be told about the zone: its stanza in ``named.conf.local``, and rndc (pure).

The zone is declared to named by a block between marker comments in ``named.conf.local``;
a zone already declared by hand with the same file is adopted as it is. `plan_reload` decides
which rndc commands tell named about a run: ``reconfig`` for a new stanza, ``reload ZONE``
when the zone changed or named serves another serial than the file's.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from nornir_homehub.defaults import NAMED_CONF_LOCAL
from nornir_homehub.errors import PlanError


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


def stanza_diff(conf: str | None, new_conf: str | None) -> str:
    """The unified diff of ``named.conf.local`` (empty when its stanza is in place)."""
    if new_conf is None:
        return ""
    return "".join(
        difflib.unified_diff(
            (conf or "").splitlines(keepends=True),
            new_conf.splitlines(keepends=True),
            fromfile=NAMED_CONF_LOCAL,
            tofile=NAMED_CONF_LOCAL,
        )
    )


@dataclass(frozen=True)
class ReloadPlan:
    """The rndc commands a run needs (``reconfig``, ``reload ZONE``), and why when unusual."""

    actions: tuple[str, ...]
    notes: tuple[str, ...] = ()


def plan_reload(
    zone: str, *, stanza_added: bool, zone_changed: bool, served: int | None, serial: int
) -> ReloadPlan:
    """Decide how named learns about this run.

    Args:
        zone: the zone name.
        stanza_added: ``named.conf.local`` gets the zone's stanza (named must reconfigure).
        zone_changed: the zone file's text changes.
        served: the serial named serves now (None: it does not serve the zone).
        serial: the zone's serial after the run.

    Returns:
        ``reconfig`` for a new stanza; ``reload ZONE`` when the zone changed or named serves
        another serial than the file's (not for a zone named does not serve yet whose stanza
        is new: ``reconfig`` loads it).

    """
    actions: list[str] = []
    notes: list[str] = []
    if stanza_added:
        actions.append("reconfig")
    if (not stanza_added or served is not None) and (zone_changed or served != serial):
        actions.append(f"reload {zone}")
        if not zone_changed and not stanza_added:
            notes.append(
                f"zone file unchanged but named serves serial {served}, not {serial}: reloading"
            )
    return ReloadPlan(tuple(actions), tuple(notes))
