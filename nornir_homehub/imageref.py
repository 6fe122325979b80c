"""Image references (``[registry/]repository[:tag][@sha256:digest]``): parsed and checked (pure).

The grammar is Distribution's (``reference`` package): lower-case path components joined by
``/``, a first component with a ``.`` or ``:`` (or ``localhost``) names the registry, a tag of
at most 128 word characters, dots and dashes, a digest ``sha256:`` + 64 hex digits. A name
without registry is Docker Hub's (``registry-1.docker.io``), one without ``/`` there is in
``library/``; a reference without tag and digest means ``latest``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z")
_DOMAIN = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"(?::[0-9]+)?\Z"
)
_TAG = re.compile(r"[\w][\w.-]{0,127}\Z")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}\Z")


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference.

    Attributes:
        registry: the registry's host[:port] (``docker.io`` when the name has none).
        repository: the repository path in that registry (``library/x`` for Docker Hub's own).
        tag: the tag ("" when the reference has only a digest; ``latest`` when it has neither).
        digest: ``sha256:...`` when pinned, else "".
    """

    registry: str
    repository: str
    tag: str
    digest: str

    @property
    def api_host(self) -> str:
        """The host that serves this registry's HTTP API v2 (Docker Hub's differs from its name)."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return dict(self.__dict__)


def parse_reference(ref: str) -> ImageRef:
    """Parse ``ref``.

    Raises:
        ValueError: ``ref`` is not a valid reference; the message says which part is wrong.
    """
    problem = reference_problem(ref)
    if problem:
        raise ValueError(problem)
    name, _, digest = ref.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = ""
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = DOCKER_HUB, name
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    if not tag and not digest:
        tag = "latest"
    return ImageRef(registry, repository, tag, digest)


def reference_problem(ref: object) -> str | None:
    """What is wrong with image reference ``ref`` (None when it is valid)."""
    if not isinstance(ref, str) or not ref:
        return "must be an image reference such as repo/name:tag or repo/name@sha256:<64 hex>"
    if any(ch.isspace() for ch in ref):
        return f"image reference {ref!r} contains white space"
    return _name_problem(ref)


def _name_problem(ref: str) -> str | None:
    name, at, digest = ref.partition("@")
    if at and not _DIGEST.match(digest):
        return f"image reference {ref!r}: the digest must be sha256: and 64 lower-case hex digits"
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG.match(tag):
            return f"image reference {ref!r}: bad tag {tag!r} (letters, digits, _ . -, at most 128)"
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        if not _DOMAIN.match(parts[0]):
            return f"image reference {ref!r}: bad registry {parts[0]!r}"
        parts = parts[1:]
    for part in parts:
        if not _COMPONENT.match(part):
            return (
                f"image reference {ref!r}: bad name component {part!r} "
                "(lower-case letters, digits and . _ - between them)"
            )
    return None
