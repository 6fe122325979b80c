"""``outdated``: per host, stack and service, whether the tag names a new digest now (pure).

Compares the digest the registry gives for a service's tag with the registry digest of the
image its container runs (the RepoDigest of the image's repository). Only notifies: nothing
is pulled or changed.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nornir_homehub.imageref import parse_reference

if TYPE_CHECKING:
    from nornir_homehub.facts.images import RunningImage
    from nornir_homehub.facts.registry import ManifestHead


class Freshness(enum.StrEnum):
    """What ``outdated`` found for one service."""

    OUTDATED = "outdated"  # the tag names another digest than the one running
    CURRENT = "current"
    PINNED = "pinned"  # the inventory pins a digest: the tag cannot move it
    UNKNOWN = "unknown"  # the registry did not answer, or the running image has no digest
    NOT_RUNNING = "not running"


@dataclass(frozen=True)
class ImageFreshness:
    """One service's image: what runs, what the registry's tag names now, and the verdict."""

    host: str
    stack: str
    service: str
    image: str
    running: str
    latest: str
    state: Freshness
    why: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {**self.__dict__, "state": str(self.state)}


def plan_outdated(
    host: str,
    stack: str,
    images: Mapping[str, str],
    running: tuple[RunningImage, ...],
    heads: Mapping[str, ManifestHead],
    project: str,
) -> tuple[ImageFreshness, ...]:
    """Judge each service of one stack.

    Args:
        host: the host's name.
        stack: the stack's name.
        images: service -> the reference the rendered compose file names.
        running: what the host's containers run (`facts.images.parse_running_images`).
        heads: reference -> the registry's answer for its tag (absent: not asked).
        project: the stack's compose project.
    """
    by_service = {r.service: r for r in running if r.project == project}
    out = []
    for service, image in sorted(images.items()):
        r = by_service.get(service)
        current, source = r.digest() if r else ("", "")
        state, why, latest = _judge(image, r is not None, source, current, heads.get(image))
        out.append(ImageFreshness(host, stack, service, image, current, latest, state, why))
    return tuple(out)


def _judge(
    image: str, runs: bool, source: str, current: str, head: ManifestHead | None
) -> tuple[Freshness, str, str]:
    """(verdict, why, the digest the tag names now) for one service."""
    ref = parse_reference(image)
    if ref.digest:
        why = f"pinned to {ref.digest[:19]}; no tag is followed"
        return Freshness.PINNED, why, ""
    if not runs:
        return Freshness.NOT_RUNNING, "no container: deploy the stack first", ""
    if head is None or head.error:
        return Freshness.UNKNOWN, head.error if head else "registry not asked", ""
    if source != "repo_digest":
        why = "the running image has no registry digest (a local build)"
        return Freshness.UNKNOWN, why, head.digest
    if head.digest != current:
        return Freshness.OUTDATED, f"{ref.tag} now names {head.digest[:19]}", head.digest
    return Freshness.CURRENT, f"{ref.tag} still names the running digest", head.digest
