"""``verify`` for the dns host: what named serves against what the inventory says (pure).

Every expected RRset resolves to its values (``dns.<name>``), every ``dns_absent`` name is
NXDOMAIN (``dns.absent.<name>``) and the served SOA serial equals the zone file's
(``dns.serial``). The answers are facts (`facts.dns.Answer`, asked from the controller by
`tasks.dns.verify_zone`); the expected records come from `plan.zonespec.ZoneSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from nornir_homehub.checks.model import Check, Layer, verdict
from nornir_homehub.errors import PlanError
from nornir_homehub.plan.zonefile import parse_zone_file

if TYPE_CHECKING:
    from nornir_homehub.facts.dns import Answer
    from nornir_homehub.plan.zonespec import ZoneSpec

REMEDY_DEPLOY = "run `python -m nornir_homehub dns` (add --dry-run to see the change first)"


@dataclass(frozen=True)
class ExpectedRRset:
    """One RRset the zone must serve: its check label, owner (relative, absolute), type, values."""

    label: str
    name: str
    fqdn: str
    rtype: str
    values: frozenset[str]

    @property
    def apex_ns(self) -> bool:
        """The apex NS set, which may list name servers besides the inventory's."""
        return (self.name, self.rtype) == ("@", "NS")


def expected_rrsets(spec: ZoneSpec) -> list[ExpectedRRset]:
    """The zone's RRsets in spec order, labelled ``<name>``, ``<name>.<type>`` or ``<type>``.

    A name with one type is labelled by the name alone, one with several by name and type;
    apex RRsets by their type (``ns``).
    """
    grouped: dict[tuple[str, str], set[str]] = {}
    for r in spec.records:
        grouped.setdefault((r.name, r.rtype), set()).add(r.value)
    types_at: dict[str, int] = {}
    for name, _ in grouped:
        types_at[name] = types_at.get(name, 0) + 1
    out = []
    for (name, rtype), values in grouped.items():
        if name == "@":
            label = rtype.lower()
        else:
            label = name if types_at[name] == 1 else f"{name}.{rtype.lower()}"
        out.append(ExpectedRRset(label, name, spec.fqdn(name), rtype, frozenset(values)))
    return out


def evaluate_record(host: str, want: ExpectedRRset, ans: Answer, *, where: str) -> Check:
    """``dns.<label>``: named answers authoritatively with exactly the expected values."""
    # The apex NS set may list name servers besides the inventory's (an adopted zone).
    same = set(ans.values) >= want.values if want.apex_ns else set(ans.values) == want.values
    ok = ans.rcode == "NOERROR" and ans.authoritative and same
    evidence = f"{want.fqdn} {want.rtype} -> {', '.join(ans.values) or ans.error or ans.rcode}"
    if not ok:
        evidence += f" (expected {', '.join(sorted(want.values))}, from {where})"
    data = {
        "name": want.fqdn,
        "type": want.rtype,
        "expected": sorted(want.values),
        "served": list(ans.values),
        "rcode": ans.rcode,
        "authoritative": ans.authoritative,
    }
    return verdict(f"dns.{want.label}", host, Layer.DNS, ok, evidence, REMEDY_DEPLOY, data)


def evaluate_absent(host: str, name: str, fqdn: str, ans: Answer, *, where: str) -> Check:
    """``dns.absent.<name>``: a ``dns_absent`` name is NXDOMAIN, authoritatively."""
    ok = ans.rcode == "NXDOMAIN" and ans.authoritative
    evidence = f"{fqdn} -> {ans.rcode if not ans.error else ans.error}"
    if not ok:
        evidence += f" (expected NXDOMAIN from {where})"
    remedy = f"{name} is declared absent (dns_absent): {REMEDY_DEPLOY} to remove it"
    data = {"name": fqdn, "rcode": ans.rcode, "authoritative": ans.authoritative}
    return verdict(f"dns.absent.{name}", host, Layer.DNS, ok, evidence, remedy, data)


def evaluate_serial(
    host: str, spec: ZoneSpec, content: bytes | None, served: int | None, *, where: str
) -> Check:
    """``dns.serial``: named serves the serial the zone file on the host has.

    Args:
        host: the dns host's inventory name.
        spec: the desired zone (its name and zone file path).
        content: the zone file as read from the host (None: it does not exist).
        served: the SOA serial named serves (None: not served).
        where: the host and address asked, for evidence.

    """
    file_serial: int | None = None
    problem = ""
    if content is None:
        problem = f"zone file {spec.zone_file} does not exist"
    else:
        try:
            # The zone's own text is enough for the serial; $INCLUDEd files are not needed.
            file_serial = parse_zone_file(content.decode(), spec.zone, source=spec.zone_file).serial
        except PlanError as exc:
            problem = str(exc)
    ok = not problem and served is not None and served == file_serial
    evidence = (
        f"served serial {served}, zone file serial {file_serial}"
        if not problem
        else f"{problem}; served serial {served}"
    )
    remedy = (
        REMEDY_DEPLOY
        if problem or served is None
        else f"named serves an old zone: `rndc reload {spec.zone}` on {host} or {REMEDY_DEPLOY}"
    )
    if not ok:
        evidence += f" ({where})"
    data = {"served": served, "file": file_serial, "zone_file": spec.zone_file}
    return verdict("dns.serial", host, Layer.DNS, ok, evidence, remedy, data)
