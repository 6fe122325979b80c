"""Pure release logic: ids, the rollback target, pinned compose images, releases to prune.

The release id; which release a rollback returns to; the compose file with pinned images;
which releases ``prune`` removes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from nornir_homehub.errors import PlanError
from nornir_homehub.facts.images import ImagePin
from nornir_homehub.facts.releases import Release

DEFAULT_RELEASES_KEEP = 5
"""Inventory ``releases_keep``: releases kept per stack and host, newest first."""

_IMAGE_LINE = re.compile(r"^(?P<lead>\s*image:\s*)(?P<q>[\"']?)(?P<ref>[^\"'\s#]+)(?P=q)\s*$")


def release_id(moment: datetime, run_id: str) -> str:
    """``20261201T134000123456Z-<run id>``: sorts by time, unique per run."""
    return f"{moment.strftime('%Y%m%dT%H%M%S%fZ')}-{run_id}"


@dataclass(frozen=True)
class RollbackPlan:
    """Where a rollback of one stack on one host goes.

    Attributes:
        current: the newest release (what the stack runs after its last completed deploy).
        target: the release to return to.
    """

    current: Release
    target: Release


def plan_rollback(
    host: str, stack: str, releases: Sequence[Release], to: str | None
) -> RollbackPlan:
    """The release to return to: ``to`` (an id, or a unique prefix of one), else the previous.

    Raises:
        PlanError: no release of the stack on the host, no previous one, or ``to`` unknown
            or ambiguous (the message lists the ids there are).
    """
    mine = sorted((r for r in releases if r.stack == stack), key=lambda r: r.id)
    if not mine:
        raise PlanError(f"{host}: stack {stack}: no release recorded, nothing to roll back to")
    current = mine[-1]
    if to is None:
        if len(mine) < 2:
            raise PlanError(
                f"{host}: stack {stack}: only one release ({current.id}), nothing to roll back to"
            )
        return RollbackPlan(current, mine[-2])
    found = [r for r in mine if r.id == to] or [r for r in mine if r.id.startswith(to)]
    if len(found) != 1:
        what = "matches several releases" if found else "is not a release"
        ids = ", ".join(r.id for r in reversed(mine))
        raise PlanError(f"{host}: stack {stack}: --to {to!r} {what}; releases: {ids}")
    return RollbackPlan(current, found[0])


def pin_compose(text: str, pins: Mapping[str, str]) -> str:
    """The compose file with each ``image: REF`` whose REF is a key of ``pins`` replaced.

    ``pins``: the reference as written -> what to run instead (``repo@sha256:...``, or a tag
    that names the recorded image id). Lines are kept otherwise byte for byte.
    """
    out = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        m = _IMAGE_LINE.match(body)
        if m and m.group("ref") in pins:
            out.append(f"{m.group('lead')}{pins[m.group('ref')]}{line[len(body) :]}")
            continue
        out.append(line)
    return "".join(out)


def local_pin_tag(pin: ImagePin) -> str:
    """The tag a rollback gives a recorded local image id, so that Compose can name it."""
    repo = pin.image.split("@", 1)[0]
    slash, colon = repo.rfind("/"), repo.rfind(":")
    repo = repo[:colon] if colon > slash else repo
    return f"{repo}:homehub-{pin.image_id.removeprefix('sha256:')[:12]}"


def plan_release_prune(releases: Sequence[Release], keep: int) -> list[Release]:
    """The releases beyond the newest ``keep`` of each stack (the newest is never one)."""
    by_stack: dict[str, list[Release]] = {}
    for r in releases:
        by_stack.setdefault(r.stack, []).append(r)
    out = []
    for stack in sorted(by_stack):
        newest_first = sorted(by_stack[stack], key=lambda r: r.id, reverse=True)
        out.extend(newest_first[max(keep, 1) :])
    return out
