"""Image facts for ``prune``: every image on the host and which containers use which image.

One batch (`prune_fact_batch`): ``images`` inspects each image once (id, tags, repo digests,
created, size, parent); ``runtime`` is the container fact of `facts.runtime` (each container's
image id, running or stopped). Only these fields are printed: never an image's config or
environment.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from nornir_homehub.codes import EXIT_NO_DOCKER
from nornir_homehub.facts.runtime import parse_json_lines, runtime_commands

_IMAGE = (
    '{"id":{{json .Id}},"repo_tags":{{json .RepoTags}},"repo_digests":{{json .RepoDigests}},'
    '"created":{{json .Created}},"size":{{json .Size}},"parent":{{json .Parent}}}'
)


@dataclass(frozen=True)
class ImageFact:
    """One image on a host, as ``docker image inspect`` shows it.

    Attributes:
        id: ``sha256:...``.
        repo_tags: ``repo:tag`` names (empty for a dangling image).
        repo_digests: ``repo@sha256:...`` of a pulled image (empty for a local build).
        created: when it was built (RFC 3339, as Docker writes it).
        size: bytes.
        parent: the id of the image it was built on locally ("" for a pulled image).
    """

    id: str
    repo_tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()
    created: str = ""
    size: int = 0
    parent: str = ""


def prune_fact_batch() -> dict[str, str]:
    """Shell commands for `HostConnection.run_batch` (one round trip).

    Parse ``images`` with `parse_images` and ``runtime`` with `facts.runtime.parse_runtime`.
    """
    return {
        "images": (
            f"ids=$(docker image ls -q --no-trunc) || exit {EXIT_NO_DOCKER}; "
            '[ -n "$ids" ] || exit 0; '
            f"docker image inspect --format {shlex.quote(_IMAGE)} "
            "$(printf '%s\\n' $ids | sort -u); true"
        ),
        "runtime": runtime_commands(())["runtime"],
    }


def images_problem(stderr: str) -> str | None:
    """The first line of the ``images`` fact's stderr that is not a vanished image, or None.

    The command goes on past an error (an image removed mid-command is normal), so a failure
    that would leave the list empty, such as a ``--format`` the engine cannot evaluate, must
    be caught here: an empty list would read as "nothing to prune".
    """
    for line in stderr.splitlines():
        if line.strip() and "No such image" not in line:
            return line.strip()
    return None


def parse_images(text: str) -> tuple[ImageFact, ...]:
    """Parse the ``images`` fact's stdout, one `ImageFact` per image, in id order.

    Lines that are not JSON objects (an image removed mid-command) are skipped; Docker's old
    ``<none>:<none>`` placeholders are dropped from the names.
    """
    out = {}
    for item in parse_json_lines(text):
        image_id = str(item.get("id") or "")
        if not image_id:
            continue
        size = item.get("size")
        out[image_id] = ImageFact(
            id=image_id,
            repo_tags=tuple(str(t) for t in item.get("repo_tags") or () if t and "<none>" not in t),
            repo_digests=tuple(
                str(d) for d in item.get("repo_digests") or () if d and "<none>" not in d
            ),
            created=str(item.get("created") or ""),
            size=size if isinstance(size, int) and not isinstance(size, bool) else 0,
            parent=str(item.get("parent") or ""),
        )
    return tuple(out[k] for k in sorted(out))
