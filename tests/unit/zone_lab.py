"""The lab's zone inputs for the DNS unit tests: its three hosts and its site values."""

from __future__ import annotations

from typing import Any

from nornir_homehub.plan.zonespec import HostEntry, ZoneSpec, zone_spec_from_inventory

LAB_HOSTS = [
    HostEntry("trusted", "192.0.2.131", "trusted.homehub.test", "trusted"),
    HostEntry("compute", "192.0.2.132", "compute.homehub.test", "compute"),
    HostEntry("dns", "192.0.2.133", "dns.homehub.test", "dns"),
]
# As inventory/lab/defaults.yaml has them.
LAB_DATA: dict[str, Any] = {
    "domain": "homehub.test",
    "public_services": ["chat", "openai"],
    "internal_services": ["ollama", "qdrant"],
    "dns_zone": None,
    "dns_ttl": 3600,
    "dns_soa_contact": "hostmaster",
    "dns_zone_dir": "/etc/bind/zones",
    "dns_records": [],
    "dns_absent": ["vllm"],
}


def lab_spec(**overrides: Any) -> ZoneSpec:
    """The lab's desired zone, with ``overrides`` of its site values."""
    return zone_spec_from_inventory(LAB_HOSTS, {**LAB_DATA, **overrides})
