"""Judge a host's deploy lock: held, or stale (its process is gone, or it is older than a TTL).

Pure: the caller says which controller it runs on, the time, and whether a PID is alive there.
A stale lock is reported, never broken here: a run takes over one whose holder is provably
gone (`LockState.dead_holder`), ``lock release`` breaks the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nornir_homehub.facts.hostlock import LockHolder

DEFAULT_LOCK_TTL = 3600.0
"""Inventory ``lock_ttl``: seconds after which a lock counts as stale whoever holds it."""


@dataclass(frozen=True)
class LockState:
    """One host's lock as ``lock status`` shows it.

    Attributes:
        host: the inventory host.
        held: the lock folder exists.
        holder: who took it (None: free, or the holder file could not be read).
        stale: why it is stale ("" when it is not).
        dead_holder: its holder ran on this controller and that process is gone: provably
            nobody holds it any more (a killed run), so the next run may take it over.
    """

    host: str
    held: bool
    holder: LockHolder | None = None
    stale: str = ""
    dead_holder: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "host": self.host,
            "held": self.held,
            "holder": self.holder.to_dict() if self.holder else None,
            "stale": bool(self.stale),
            "stale_reason": self.stale or None,
        }

    def describe(self) -> str:
        """One line: free, or the holder (and why it is stale)."""
        if not self.held:
            return f"{self.host}: free"
        who = self.holder.describe() if self.holder else "an unreadable holder"
        stale = f" (STALE: {self.stale})" if self.stale else ""
        return f"{self.host}: locked by {who}{stale}"


def plan_lock_state(
    host: str,
    held: bool,
    holder: LockHolder | None,
    *,
    now: datetime,
    ttl: float,
    controller: str,
    pid_alive: Callable[[int], bool],
) -> LockState:
    """Whether the lock is stale, and why.

    Stale when its controller is this one and its PID is gone, or when it is older than
    ``ttl`` seconds (a lock of another controller is judged by age only: its PIDs are not
    visible here). A holder without a readable start time is judged by its PID only.
    """
    if not held or holder is None:
        return LockState(host, held, holder)
    if holder.controller == controller and holder.pid > 0 and not pid_alive(holder.pid):
        gone = f"process {holder.pid} is gone on {controller}"
        return LockState(host, True, holder, gone, dead_holder=True)
    try:
        started = datetime.fromisoformat(holder.started.replace("Z", "+00:00"))
    except ValueError:
        return LockState(host, True, holder)
    age = (now - started).total_seconds()
    if age > ttl:
        return LockState(host, True, holder, f"older than lock_ttl ({age:.0f} s > {ttl:.0f} s)")
    return LockState(host, True, holder)
