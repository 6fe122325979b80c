"""Check results: which layer was looked at, what was seen and what to do about it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Layer(enum.StrEnum):
    """The layer of the stack a check looks at, from the outside in."""

    DNS = "dns"
    SSH = "ssh"
    CONTAINER = "container"
    NETWORK = "network"
    HTTP = "http"
    AUTH = "auth"
    MODEL = "model"
    GPU = "gpu"
    MONITORING = "monitoring"


class Status(enum.StrEnum):
    """Outcome of one check."""

    PASS = "pass"  # noqa: S105 - a check status, not a password
    FAIL = "fail"
    WARN = "warn"
    SKIP = "skip"


@dataclass(frozen=True)
class Check:
    """One verification result.

    Attributes:
        name: stable identifier, e.g. ``dns.chat`` or ``container.qdrant``.
        host: the inventory host the check concerns.
        layer: which layer was examined.
        status: pass, fail, warn or skip.
        evidence: what was seen (short, human-readable, never a secret).
        remedy: what to do when not passing (empty when passing).
        data: structured details for reports and notebooks.
    """

    name: str
    host: str
    layer: Layer
    status: Status
    evidence: str
    remedy: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """True when the status is fail."""
        return self.status is Status.FAIL

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "name": self.name,
            "host": self.host,
            "layer": str(self.layer),
            "status": str(self.status),
            "evidence": self.evidence,
            "remedy": self.remedy,
            "data": self.data,
        }


def verdict(
    name: str,
    host: str,
    layer: Layer,
    ok: bool,
    evidence: str,
    remedy: str,
    data: dict[str, Any] | None = None,
    *,
    bad: Status = Status.FAIL,
) -> Check:
    """A check that passes when ``ok``; otherwise it has status ``bad`` and carries ``remedy``."""
    return Check(
        name, host, layer, Status.PASS if ok else bad, evidence, "" if ok else remedy, data or {}
    )
