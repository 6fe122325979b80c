"""A zone file written from scratch, and read back whole with dnspython (pure).

`render_zone` writes the desired zone (`plan.zonespec.ZoneSpec`) as a new file: the first run
on a dns host, or a ``--force`` replacement of a file that does not parse. `parse_zone` reads
a zone file with dnspython, naming the offending line when it does not parse. Zone files that
exist are edited in place instead (`plan.zoneedit`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.name
import dns.rdatatype
import dns.zone

from nornir_homehub.errors import PlanError
from nornir_homehub.plan.zonelines import dnspython_records
from nornir_homehub.plan.zonespec import Soa, ZoneRecord, ZoneSpec

# The first line of zones written by nornir_homehub before it kept a state file: the whole
# file was generated, so every record in it is the tool's.
LEGACY_HEADER = (
    "; Managed by nornir_homehub (python -m nornir_homehub dns): edit the inventory, not this."
)
HEADER = (
    "; Zone created by nornir_homehub (python -m nornir_homehub dns). The records it manages come "
    "from the inventory and are listed in the .managed.json file beside this one; records you "
    "add by hand are kept."
)


@dataclass(frozen=True)
class ParsedZone:
    """A zone file as dnspython reads it."""

    serial: int
    soa: Soa
    records: tuple[ZoneRecord, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "serial": self.serial,
            "soa": self.soa.to_dict(),
            "records": [r.to_dict() for r in self.records],
        }


def render_zone(spec: ZoneSpec, serial: int) -> str:
    """Return the zone file text for ``spec`` with ``serial`` (deterministic)."""
    soa = spec.soa
    lines = [
        HEADER,
        f"$ORIGIN {spec.zone}.",
        f"$TTL {spec.ttl}",
        f"@ IN SOA {soa.mname} {soa.rname} (",
        f"    {serial:<10} ; serial (YYYYMMDDNN)",
        f"    {soa.refresh:<10} ; refresh",
        f"    {soa.retry:<10} ; retry",
        f"    {soa.expire:<10} ; expire",
        f"    {soa.minimum:<10} ; negative caching TTL",
        ")",
    ]
    lines += [r.line() for r in spec.records]
    return "\n".join(lines) + "\n"


_LINE_RE = re.compile(r":(\d+):\s*")


def _bad_line(text: str, origin: dns.name.Name) -> tuple[int, str] | None:
    """Return the first one-line record that does not parse on its own (number, text).

    dnspython's line numbers are sometimes one past the offending record (it has already
    read the end of line), so the record is found by parsing each line alone.
    """
    wrapper = f"$ORIGIN {origin.to_text()}\n$TTL 1\n@ IN SOA a. b. 1 1 1 1 1\n@ IN NS a.\n"
    depth = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(";", 1)[0]
        opened = depth > 0 or "(" in line
        depth += line.count("(") - line.count(")")
        if opened or not line.strip() or line.lstrip().startswith("$"):
            continue
        try:
            dns.zone.from_text(wrapper + line + "\n", origin=origin, check_origin=False)
        except dns.exception.DNSException:
            return number, raw.strip()
    return None


def _line_hint(text: str, message: str, origin: dns.name.Name) -> str:
    match = _LINE_RE.search(message)
    rest = message[match.end() :] if match else message
    found = _bad_line(text, origin)
    if found:
        return f"line {found[0]} `{found[1]}`: {rest}"
    return f"line {match.group(1)}: {rest}" if match else message


def parse_zone(text: str, zone: str, *, source: str = "zone file") -> ParsedZone:
    """Parse a zone file with dnspython.

    Args:
        text: the zone file.
        zone: the zone name (origin) it must describe.
        source: what to call the text in errors (a path, ``candidate``).

    Returns:
        Serial, SOA fields and the other records (owners relative, names absolute, TTLs
        effective), sorted.

    Raises:
        PlanError: the text is not a valid zone for ``zone``; the message names the line.

    """
    origin = dns.name.from_text(zone)
    try:
        parsed = dns.zone.from_text(text, origin=origin, relativize=True, check_origin=True)
    except dns.exception.DNSException as exc:
        detail = _line_hint(text, str(exc) or type(exc).__name__, origin)
        raise PlanError(f"{source} for zone {zone} does not parse: {detail}") from None
    soa_set = parsed.get_rdataset("@", dns.rdatatype.SOA)
    if soa_set is None:  # pragma: no cover - check_origin already requires it
        raise PlanError(f"{source} for zone {zone} has no SOA record")
    soa_rd = soa_set[0]
    soa = Soa(
        mname=soa_rd.mname.derelativize(origin).to_text(),
        rname=soa_rd.rname.derelativize(origin).to_text(),
        refresh=soa_rd.refresh,
        retry=soa_rd.retry,
        expire=soa_rd.expire,
        minimum=soa_rd.minimum,
    )
    records = [
        ZoneRecord(owner, rtype, value, ttl, source)
        for owner, rtype, value, ttl in dnspython_records(parsed, origin)
        if rtype != "SOA"
    ]
    return ParsedZone(serial=int(soa_rd.serial), soa=soa, records=tuple(sorted(records)))
