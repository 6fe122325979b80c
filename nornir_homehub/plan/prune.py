"""Prune: which images of the stacks' repositories go and which stay, each with its reason.

Pure: built from the image facts (`facts.images`), the image id of every container (running
or stopped) and the images the rendered compose files name now. There are no releases yet
(a stack's release is its state record, see `plan.status`), so only images are pruned.

Only images of the *stacks' repositories* (the repositories the rendered compose files name)
are considered; any other image is never listed. Of those, an image stays when a container
uses it, when a compose file names it now, when it is another image's parent, or when it has
more than one tag or is also tagged in another repository (``docker image rm <id>`` would
refuse without ``-f``).
The others, per repository newest first: the first ``keep`` stay (rollback candidates), the
rest go.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nornir_homehub.plan.status import parse_started
from nornir_homehub.records import as_dict

if TYPE_CHECKING:
    from nornir_homehub.facts.images import ImageFact

DEFAULT_KEEP = 1  # unused images kept per repository when images_keep is not set
_IN_USE = re.compile(r"being used by|is using its referenced image")
_GONE = re.compile(r"No such image", re.IGNORECASE)


@dataclass(frozen=True)
class ImageRef:
    """An image reference, normalised as Docker shows it (``docker.io/library/`` dropped)."""

    repository: str
    tag: str = ""
    digest: str = ""


def parse_reference(ref: str) -> ImageRef:
    """``[registry/]repo[:tag][@digest]`` as an `ImageRef` (no tag and no digest: ``latest``)."""
    name, _, digest = ref.strip().partition("@")
    slash, colon = name.rfind("/"), name.rfind(":")
    repo, tag = (name[:colon], name[colon + 1 :]) if colon > slash else (name, "")
    for prefix in ("docker.io/", "index.docker.io/"):
        repo = repo.removeprefix(prefix)
    if repo.startswith("library/") and repo.count("/") == 1:
        repo = repo.removeprefix("library/")
    return ImageRef(repo, tag or ("" if digest else "latest"), digest)


@dataclass(frozen=True)
class ImageDecision:
    """One image of a stack's repository on one host, and whether it goes.

    Attributes:
        name: ``repository:tag`` (``repository:<none>`` for an untagged image).
        created: when it was built (RFC 3339).
        remove: True when prune removes it.
        reason: why it goes or why it stays.
    """

    host: str
    repository: str
    name: str
    image_id: str
    size: int
    created: str
    remove: bool
    reason: str


@dataclass(frozen=True)
class PrunePlan:
    """What prune does on one host.

    Attributes:
        host: the host's inventory name.
        keep: unused images kept per repository.
        repositories: the stacks' repositories (what is considered at all).
        images: every image of those repositories, repositories in name order, newest first.
    """

    host: str
    keep: int
    repositories: tuple[str, ...]
    images: tuple[ImageDecision, ...]

    @property
    def removals(self) -> tuple[ImageDecision, ...]:
        """The images that go."""
        return tuple(d for d in self.images if d.remove)

    def commands(self) -> list[str]:
        """The commands that remove them: ``docker image rm <id>``, never ``-f``."""
        return [f"docker image rm {d.image_id}" for d in self.removals]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "host": self.host,
            "keep": self.keep,
            "repositories": list(self.repositories),
            "images": [as_dict(d) for d in self.images],
        }


def _names(image: ImageFact) -> list[ImageRef]:
    return [parse_reference(r) for r in (*image.repo_tags, *image.repo_digests)]


def _created(image: ImageFact) -> dt.datetime:
    return parse_started(image.created) or dt.datetime.min.replace(tzinfo=dt.UTC)


def _held(
    image: ImageFact,
    repos: set[str],
    in_use: Mapping[str, Sequence[str]],
    wanted: Mapping[ImageRef, str],
    parents: Mapping[str, str],
) -> str | None:
    """Why ``image`` must stay whatever ``keep`` says, or None."""
    names = _names(image)
    outside = sorted({n.repository for n in names} - repos)
    if outside:
        return f"also tagged in {', '.join(outside)}, outside the stacks' repositories"
    if image.id in in_use:
        return f"in use by container {', '.join(sorted(in_use[image.id]))}"
    for n in names:
        for ref, stack in wanted.items():
            same = ref.digest == n.digest if ref.digest else bool(n.tag) and ref.tag == n.tag
            if n.repository == ref.repository and same:
                return f"named by stack {stack}'s compose file now"
    if image.id in parents:
        return f"parent of image {parents[image.id].removeprefix('sha256:')[:12]}"
    # Docker removes an image by id without -f only when it has at most one tag, all in one
    # repository (its repo digests aside).
    mine = sorted({n.repository for n in names})
    if len(mine) > 1 or len(image.repo_tags) > 1:
        listed = ", ".join(image.repo_tags if len(image.repo_tags) > 1 else mine)
        return f"tagged more than once ({listed}): docker image rm <id> refuses it without -f"
    return None


def plan_prune(
    host: str,
    images: Sequence[ImageFact],
    in_use: Mapping[str, Sequence[str]],
    wanted: Mapping[str, str],
    keep: int,
) -> PrunePlan:
    """Which images of the stacks' repositories on ``host`` go, each with its reason.

    Args:
        host: the host's inventory name.
        images: every image on the host.
        in_use: image id -> the containers (running or stopped) created from it.
        wanted: image reference a rendered compose file names -> its stack.
        keep: unused images kept per repository, newest first (0: none).
    """
    refs = {parse_reference(r): s for r, s in wanted.items()}
    repos = {r.repository for r in refs}
    parents = {i.parent: i.id for i in images if i.parent}
    out: list[ImageDecision] = []
    listed: set[str] = set()
    for repo in sorted(repos):
        mine = [i for i in images if repo in {n.repository for n in _names(i)}]
        mine.sort(key=lambda i: (_created(i), i.id), reverse=True)
        spare = 0
        for image in mine:
            if image.id in listed:
                continue  # tagged in two of the stacks' repositories: listed (and held) once
            listed.add(image.id)
            tags = [n.tag for n in _names(image) if n.repository == repo and n.tag]
            reason = _held(image, repos, in_use, refs, parents)
            remove = False
            if reason is None and spare < keep:
                spare += 1
                reason = f"unused, one of the newest {keep} unused of {repo} kept (--keep)"
            elif reason is None:
                remove = True
                reason = f"unused by any container, beyond the newest {keep} unused of {repo}"
            out.append(
                ImageDecision(
                    host,
                    repo,
                    f"{repo}:{tags[0] if tags else '<none>'}",
                    image.id,
                    image.size,
                    image.created,
                    remove,
                    reason,
                )
            )
    return PrunePlan(host, keep, tuple(sorted(repos)), tuple(out))


def removal_outcome(exit_code: int, stderr: str) -> tuple[str, str]:
    """What ``docker image rm <id>`` did: (``removed``|``in use``|``gone``|``failed``, detail).

    An image a container started to use since the facts were read is refused by Docker (no
    ``-f``): that is ``in use``, skipped, not a failure; an image already gone is ``gone``.
    """
    detail = (stderr.strip().splitlines() or [""])[-1]
    if exit_code == 0:
        return "removed", ""
    if _IN_USE.search(stderr):
        return "in use", detail
    if _GONE.search(stderr):
        return "gone", detail
    return "failed", detail or f"exit {exit_code}"
