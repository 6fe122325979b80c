"""The desired homehub DNS zone, derived from the inventory (pure).

The zone holds (guide, "DNS Configuration"):

* an A (or AAAA) record for every inventory host whose ``fqdn`` lies inside the zone and whose
  address is an IP address, at its name relative to the zone (``lxc-prod-2.prx-prod-1``);
* ``public_services`` as CNAMEs to the trusted host's FQDN, ``internal_services`` as CNAMEs to
  the compute host's FQDN;
* the operator's ``dns_records`` ({name, type, value, ttl?});
* an NS record for each dns host (its A record comes with the host records);
* none of the names in ``dns_absent`` (declaring one of them present is a `PlanError`).

Nothing here touches the network: the task gathers the current zone file, `plan.zoneplan`
decides what changes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from nornir_homehub.defaults import DEFAULT_ZONE_DIR, ZONE_STATE_FILE
from nornir_homehub.errors import ConfigError, PlanError

DEFAULT_TTL = 3600
DEFAULT_CONTACT = "hostmaster"
# RFC 1912 section 2.2 style timers for a small primary-only zone.
DEFAULT_SOA_TIMERS: Mapping[str, int] = {
    "refresh": 3600,
    "retry": 900,
    "expire": 1209600,
    "minimum": 300,
}
# octoDNS's defaults (Plan.MAX_SAFE_UPDATE_PCENT / MIN_EXISTING_RECORDS): a run may change or
# remove at most this share of a zone's existing records; zones smaller than the minimum are
# not checked (one change in a five-record zone is 20 %).
DEFAULT_MAX_CHANGE_PERCENT = 30.0
MIN_EXISTING_RECORDS = 10


@dataclass(frozen=True, order=True)
class ZoneRecord:
    """One resource record, owner relative to the zone (``@`` is the apex).

    Attributes:
        name: owner name relative to the zone origin.
        rtype: record type, upper case (``A``, ``CNAME``, ...).
        value: rdata in canonical text, names absolute (``trusted.homehub.test.``).
        ttl: explicit TTL, or None for the zone's ``$TTL``.
        source: where the record comes from (inventory variable or host), for messages.

    """

    name: str
    rtype: str
    value: str
    ttl: int | None = None
    source: str = field(default="", compare=False)

    def line(self, default_ttl: int | None = None) -> str:
        """Return the record as one zone file line (TTL shown when it differs from default)."""
        ttl = "" if self.ttl is None or self.ttl == default_ttl else str(self.ttl)
        return f"{self.name:<24} {ttl:<6} IN {self.rtype:<6} {self.value}"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"name": self.name, "type": self.rtype, "value": self.value, "ttl": self.ttl}


@dataclass(frozen=True)
class Soa:
    """SOA fields other than the serial."""

    mname: str
    rname: str
    refresh: int = DEFAULT_SOA_TIMERS["refresh"]
    retry: int = DEFAULT_SOA_TIMERS["retry"]
    expire: int = DEFAULT_SOA_TIMERS["expire"]
    minimum: int = DEFAULT_SOA_TIMERS["minimum"]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class HostEntry:
    """What the zone needs to know about one inventory host."""

    name: str
    address: str | None
    fqdn: str | None
    role: str | None


@dataclass(frozen=True)
class ZoneSpec:
    """The desired zone, derived from inventory.

    Attributes:
        zone: zone name without the trailing dot (``homehub.test``).
        ttl: the zone's ``$TTL``.
        soa: SOA fields (serial excluded: it is planned).
        records: NS and data records, sorted, without the SOA.
        absent: owner names (relative) that must not exist.
        zone_file: path of the zone file on the dns host.
        notes: remarks for the plan (hosts skipped and why).
        max_change_percent: a run that would change or remove more than this share of the
            zone's existing records is refused without ``--force`` (``dns_max_change_percent``).

    """

    zone: str
    ttl: int
    soa: Soa
    records: tuple[ZoneRecord, ...]
    absent: tuple[str, ...]
    zone_file: str
    notes: tuple[str, ...] = ()
    max_change_percent: float = DEFAULT_MAX_CHANGE_PERCENT

    @property
    def state_file(self) -> str:
        """Path of the state file beside the zone file (which records are managed)."""
        folder, _, base = self.zone_file.rpartition("/")
        return f"{folder}/" + ZONE_STATE_FILE.format(zone_file=base)

    @property
    def origin(self) -> dns.name.Name:
        """The zone origin as a dnspython name."""
        return dns.name.from_text(self.zone)

    def expected(self) -> tuple[ZoneRecord, ...]:
        """Return the records with effective TTLs filled in (as a parsed zone file shows them)."""
        return tuple(
            sorted(
                ZoneRecord(r.name, r.rtype, r.value, r.ttl or self.ttl, r.source)
                for r in self.records
            )
        )

    def fqdn(self, name: str) -> str:
        """Return the absolute name (trailing dot) of an owner relative to the zone."""
        return self.zone + "." if name == "@" else f"{name}.{self.zone}."

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "zone": self.zone,
            "ttl": self.ttl,
            "soa": self.soa.to_dict(),
            "records": [r.to_dict() for r in self.records],
            "absent": list(self.absent),
            "zone_file": self.zone_file,
            "state_file": self.state_file,
            "max_change_percent": self.max_change_percent,
            "notes": list(self.notes),
        }


# -- inventory -> zone spec -------------------------------------------------------------------


def _int(data: Mapping[str, Any], key: str, default: int) -> int:
    value = data.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"inventory variable {key} must be a non-negative integer, got {value!r}")
    return value


def _names(data: Mapping[str, Any], key: str) -> list[str]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"inventory variable {key} must be a list of names, got {value!r}")
    return list(value)


def _relative(name: str, origin: dns.name.Name, what: str) -> str:
    """Return ``name`` relative to ``origin`` (``@`` for the apex); it must lie inside."""
    try:
        absolute = dns.name.from_text(name, origin=origin)
    except dns.exception.DNSException as exc:
        raise PlanError(f"{what}: {name!r} is not a valid DNS name: {exc}") from None
    if not absolute.is_subdomain(origin):
        raise PlanError(f"{what}: {name!r} is outside zone {origin.to_text(omit_final_dot=True)}")
    return absolute.relativize(origin).to_text()


def _canonical(rtype: str, value: str, origin: dns.name.Name, what: str) -> tuple[str, str]:
    """Return ``(TYPE, canonical rdata)``, names made absolute; PlanError names the record."""
    try:
        rdtype = dns.rdatatype.from_text(rtype.strip().upper())
        rdata = dns.rdata.from_text(dns.rdataclass.IN, rdtype, str(value), origin=origin)
    except dns.exception.DNSException as exc:
        raise PlanError(f"{what}: invalid {rtype} value {value!r}: {exc}") from None
    if rdtype == dns.rdatatype.SOA:
        raise PlanError(f"{what}: the SOA record is generated, declare dns_soa_* variables instead")
    return dns.rdatatype.to_text(rdtype), rdata.to_text(origin=origin, relativize=False)


def _contact(contact: str, zone: str) -> str:
    """Return the SOA RNAME for ``hostmaster``, ``hostmaster@example.org`` or a full name."""
    if "@" in contact:
        local, _, domain = contact.partition("@")
        return local.replace(".", "\\.") + "." + domain.rstrip(".") + "."
    if contact.endswith("."):
        return contact
    return f"{contact}.{zone}."


def _in_zone(fqdn: str, zone: str) -> bool:
    f = fqdn.rstrip(".").lower()
    z = zone.lower()
    return f == z or f.endswith("." + z)


def zone_spec_from_inventory(hosts: Sequence[HostEntry], data: Mapping[str, Any]) -> ZoneSpec:
    """Derive the desired zone from the inventory.

    Args:
        hosts: every inventory host (not only the selected ones: records for all hosts).
        data: the dns host's data (defaults and groups merged): ``domain``, ``dns_zone``,
            ``dns_ttl``, ``dns_soa_contact``, ``dns_soa_timers``, ``dns_zone_dir``,
            ``dns_zone_file`` (default ``<dns_zone_dir>/db.<zone>``), ``public_services``,
            ``internal_services``, ``dns_records``, ``dns_absent``, ``dns_max_change_percent``.

    Returns:
        The zone spec, records sorted (NS first).

    Raises:
        ConfigError: a variable has the wrong shape (not a list, not an integer, no zone).
        PlanError: a record is invalid, a service has no target host, or a name is declared
            both present and absent (the message names the record or name).

    """
    zone = str(data.get("dns_zone") or data.get("domain") or "").strip().rstrip(".").lower()
    if not zone:
        raise ConfigError("inventory variable dns_zone (or domain) is not set")
    origin = dns.name.from_text(zone)
    notes: list[str] = []
    records = _ns_records(hosts)
    records += _host_records(hosts, zone, notes)
    records += _service_records(hosts, data, origin)
    records += _extra_records(data, origin)

    absent = tuple(sorted({_relative(n, origin, "dns_absent") for n in _names(data, "dns_absent")}))
    for name in absent:
        clash = [r for r in records if r.name.lower() == name.lower()]
        if clash:
            where = ", ".join(sorted({r.source for r in clash}))
            raise PlanError(
                f"{name}.{zone} is declared absent (dns_absent) and present ({where}); "
                "remove it from one of them"
            )
    _check_consistency(records, zone)

    zone_dir = str(data.get("dns_zone_dir") or DEFAULT_ZONE_DIR).rstrip("/")
    zone_file = str(data.get("dns_zone_file") or f"{zone_dir}/db.{zone}")
    if not zone_file.startswith("/") or zone_file.endswith("/"):
        raise ConfigError(
            f"inventory variable dns_zone_file must be a file's absolute path: {zone_file!r}"
        )
    ordered = sorted(set(records), key=lambda r: (r.rtype != "NS", r.name != "@", r))
    return ZoneSpec(
        zone=zone,
        ttl=_int(data, "dns_ttl", DEFAULT_TTL),
        soa=_soa(hosts, data, zone),
        records=tuple(ordered),
        absent=absent,
        zone_file=zone_file,
        notes=tuple(notes),
        max_change_percent=_percent(data, "dns_max_change_percent", DEFAULT_MAX_CHANGE_PERCENT),
    )


def _percent(data: Mapping[str, Any], key: str, default: float) -> float:
    value = data.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise ConfigError(f"inventory variable {key} must be a number from 0 to 100, got {value!r}")
    return float(value)


def _dns_hosts(hosts: Sequence[HostEntry]) -> list[HostEntry]:
    dns_hosts = [h for h in hosts if h.role == "dns"]
    if not dns_hosts:
        raise PlanError("the inventory has no host with role dns (needed for SOA and NS)")
    for h in dns_hosts:
        if not h.fqdn:
            raise PlanError(f"dns host {h.name} has no fqdn in the inventory (needed for NS)")
    return dns_hosts


def _soa(hosts: Sequence[HostEntry], data: Mapping[str, Any], zone: str) -> Soa:
    timers = data.get("dns_soa_timers") or {}
    if not isinstance(timers, Mapping):
        raise ConfigError(f"inventory variable dns_soa_timers must be a mapping, got {timers!r}")
    unknown = sorted(set(timers) - set(DEFAULT_SOA_TIMERS))
    if unknown:
        raise ConfigError(f"dns_soa_timers: unknown key(s) {', '.join(map(str, unknown))}")
    return Soa(
        mname=str(_dns_hosts(hosts)[0].fqdn).rstrip(".") + ".",
        rname=_contact(str(data.get("dns_soa_contact") or DEFAULT_CONTACT), zone),
        **{k: _int(timers, k, v) for k, v in DEFAULT_SOA_TIMERS.items()},
    )


def _ns_records(hosts: Sequence[HostEntry]) -> list[ZoneRecord]:
    return [
        ZoneRecord("@", "NS", str(h.fqdn).rstrip(".") + ".", None, f"host {h.name}")
        for h in _dns_hosts(hosts)
    ]


def _host_records(hosts: Sequence[HostEntry], zone: str, notes: list[str]) -> list[ZoneRecord]:
    origin = dns.name.from_text(zone)
    records = []
    for h in hosts:
        if not h.fqdn or not _in_zone(h.fqdn, zone):
            continue
        try:
            ip = ipaddress.ip_address(str(h.address))
        except ValueError:
            notes.append(f"host {h.name}: address {h.address!r} is not an IP address, no A record")
            continue
        rtype = "A" if ip.version == 4 else "AAAA"
        name = _relative(h.fqdn.rstrip(".") + ".", origin, f"host {h.name} fqdn")
        records.append(ZoneRecord(name, rtype, ip.compressed, None, f"host {h.name}"))
    return records


def _service_records(
    hosts: Sequence[HostEntry], data: Mapping[str, Any], origin: dns.name.Name
) -> list[ZoneRecord]:
    records = []
    for key, role in (("public_services", "trusted"), ("internal_services", "compute")):
        services = _names(data, key)
        if not services:
            continue
        targets = [h for h in hosts if h.role == role and h.fqdn]
        if not targets:
            raise PlanError(
                f"{key} ({', '.join(services)}) need a {role} host with an fqdn in the inventory"
            )
        target = str(targets[0].fqdn).rstrip(".") + "."
        for service in services:
            name = _relative(service, origin, key)
            records.append(ZoneRecord(name, "CNAME", target, None, key))
    return records


def _extra_records(data: Mapping[str, Any], origin: dns.name.Name) -> list[ZoneRecord]:
    extra = data.get("dns_records") or []
    if not isinstance(extra, list):
        raise ConfigError(f"inventory variable dns_records must be a list, got {extra!r}")
    records = []
    for i, item in enumerate(extra):
        what = f"dns_records[{i}]"
        if not isinstance(item, Mapping) or not {"name", "type", "value"} <= set(item):
            raise ConfigError(f"{what} must be a mapping with name, type, value: {item!r}")
        what = f"{what} ({item['name']} {item['type']})"
        rttl = item.get("ttl")
        if rttl is not None and (isinstance(rttl, bool) or not isinstance(rttl, int) or rttl < 0):
            raise PlanError(f"{what}: ttl must be a non-negative integer, got {rttl!r}")
        name = _relative(str(item["name"]), origin, what)
        rtype, value = _canonical(str(item["type"]), str(item["value"]), origin, what)
        records.append(ZoneRecord(name, rtype, value, rttl, "dns_records"))
    return records


def _check_consistency(records: Sequence[ZoneRecord], zone: str) -> None:
    """Refuse a CNAME beside other data and one name/type with several TTLs."""
    by_name: dict[str, list[ZoneRecord]] = {}
    for r in records:
        by_name.setdefault(r.name.lower(), []).append(r)
    for name, recs in by_name.items():
        cnames = [r for r in recs if r.rtype == "CNAME"]
        if cnames and len({(r.rtype, r.value) for r in recs}) > 1:
            sources = ", ".join(sorted({f"{r.rtype} from {r.source}" for r in recs}))
            raise PlanError(f"{name}.{zone}: a CNAME cannot coexist with other records ({sources})")
        ttls: dict[str, set[int | None]] = {}
        for r in recs:
            ttls.setdefault(r.rtype, set()).add(r.ttl)
        for rtype, values in ttls.items():
            if len(values) > 1:
                raise PlanError(f"{name}.{zone} {rtype}: records declare different TTLs")
