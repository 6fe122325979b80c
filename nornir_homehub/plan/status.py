"""Status: what runs for each stack on a host, with its release and a drift marker.

Pure: built from the stack facts, the runtime facts (`facts.runtime`) and the drift of the
same facts (`plan.drift`). There is no release number yet: a stack's *release* is its state
record, the hash of every file the last completed deploy applied (`RenderedStack.config_hash`)
and when that record was written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nornir_homehub.records import as_dict

if TYPE_CHECKING:
    from nornir_homehub.facts.runtime import RuntimeFacts
    from nornir_homehub.facts.stacks import HostStackFacts
    from nornir_homehub.plan.drift import DriftItem
    from nornir_homehub.render import RenderedStack


@dataclass(frozen=True)
class ContainerStatus:
    """One container of a stack, as the engine reports it.

    Attributes:
        uptime_s: seconds since it started (None when it does not run or the time is unknown).
        repo_digest: the image's first repo digest ("" for a locally built image).
    """

    service: str
    name: str
    state: str
    health: str
    image: str
    image_id: str
    repo_digest: str
    started_at: str
    uptime_s: int | None
    restarts: int
    config_hash: str


@dataclass(frozen=True)
class Release:
    """The last completed deploy of a stack (its state record).

    Attributes:
        config_hash: hash over the files that deploy applied (path, mode, content).
        deployed_at: when the record was written (ISO 8601 UTC; "" when unknown).
        current: the record matches what would be deployed now.
    """

    config_hash: str
    deployed_at: str
    current: bool


@dataclass(frozen=True)
class StackStatus:
    """One stack on one host: its containers, its release, its drift."""

    host: str
    stack: str
    project: str
    containers: tuple[ContainerStatus, ...]
    release: Release | None
    drift: tuple[DriftItem, ...]

    @property
    def drifted(self) -> bool:
        """True when something of the stack is not as desired."""
        return bool(self.drift)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (``drifted`` and the drift items included)."""
        doc = as_dict(self)
        doc["containers"] = [as_dict(c) for c in self.containers]
        doc["release"] = as_dict(self.release) if self.release else None
        return {**doc, "drifted": self.drifted}


def parse_started(text: str) -> dt.datetime | None:
    """Docker's ``State.StartedAt`` (RFC 3339, nanoseconds) as an aware datetime, or None.

    Docker writes ``0001-01-01T00:00:00Z`` for a container that never started.
    """
    head, _, frac = text.rstrip("Z").partition(".")
    try:
        when = dt.datetime.fromisoformat(head).replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    if when.year < 2000:
        return None
    micro = int((frac + "000000")[:6]) if frac.isdigit() else 0
    return when.replace(microsecond=micro)


def stack_status(
    stack: RenderedStack,
    facts: HostStackFacts,
    runtime: RuntimeFacts,
    drift: tuple[DriftItem, ...],
    now: dt.datetime,
) -> StackStatus:
    """The status of ``stack`` on its host at ``now`` (an aware datetime)."""
    rows = []
    for c in sorted(facts.project_containers(stack.project), key=lambda c: c.service):
        run = runtime.of(c.name)
        started = parse_started(c.started_at) if c.running else None
        rows.append(
            ContainerStatus(
                service=c.service,
                name=c.name,
                state=c.state,
                health=str(c.health),
                image=c.image,
                image_id=run.image_id,
                repo_digest=run.repo_digests[0] if run.repo_digests else "",
                started_at=c.started_at,
                uptime_s=max(0, int((now - started).total_seconds())) if started else None,
                restarts=c.restart_count,
                config_hash=run.config_hash,
            )
        )
    last = facts.states.get(stack.project_dir)
    release = None
    if last is not None:
        stamp = runtime.state_times.get(stack.project_dir)
        when = dt.datetime.fromtimestamp(stamp, dt.UTC).isoformat() if stamp is not None else ""
        release = Release(last.config_hash, when, last.config_hash == stack.config_hash)
    return StackStatus(stack.host, stack.name, stack.project, tuple(rows), release, drift)
