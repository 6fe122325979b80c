"""The deploy's pre-pull and digest record: changed stacks pull their images side by side, first.

Runs before any file of those stacks is written and before Compose stops or recreates
anything (`tasks.deploy`), so a registry that refuses an image fails only that stack: its old
containers keep running and nothing is recorded for it. Twin swaps (`tasks.twin`) and Compose
then find the image already on the host. `record_digests` is the report's ``image digests``
step: which digest each service of the deployed stacks actually runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nornir.core.task import Result, Task

from nornir_homehub.connection import host_connection
from nornir_homehub.errors import ImagePullFailed
from nornir_homehub.facts.images import (
    parse_pulled,
    parse_running_images,
    pull_command,
    running_images_command,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from nornir_homehub.plan.pull import PullPlan
    from nornir_homehub.render import RenderedStack
    from nornir_homehub.secrets import SecretStore

PULL_TIMEOUT = 600.0


def pull_remedy(images: tuple[str, ...]) -> str:
    """What the operator does about a failed pull."""
    return (
        "check that the inventory's image reference exists in its registry "
        f"(`docker pull {images[0]}` on the host) and that the host can reach and log in to "
        "that registry"
    )


def pull_stacks(
    task: Task,
    *,
    pulls: Mapping[str, PullPlan],
    secrets: SecretStore,
    timeout: float = PULL_TIMEOUT,
) -> Result:
    """Pull each stack's images, the stacks side by side (one round trip).

    Returns:
        Result with ``result`` = ``{"stacks": {stack: [images]}, "image_ids": {ref: id},
        "failed": {stack: message}}``; ``failed`` False (the deploy fails the stacks named
        in ``failed`` and goes on with the others), ``changed`` False (a pull changes no
        container).
    """
    conn = host_connection(task)
    todo = {n: p for n, p in pulls.items() if p.images}
    results = conn.run_parallel(
        {n: pull_command(p.images, always=p.always) for n, p in todo.items()}, timeout=timeout
    )
    image_ids: dict[str, str] = {}
    failed: dict[str, str] = {}
    for name, res in results.items():
        image_ids.update(parse_pulled(res.stdout))
        if not res.ok:
            why = secrets.redactor().tail((res.stderr or res.stdout).strip(), 800)
            failed[name] = (
                f"stack {name}: pulling {', '.join(todo[name].images)} failed "
                f"(exit {res.exit_code}): {why}; the old containers keep running (nothing "
                f"stopped, recreated or recorded); remedy: {pull_remedy(todo[name].images)}"
            )
    out: dict[str, Any] = {
        "stacks": {n: list(p.images) for n, p in todo.items()},
        "image_ids": image_ids,
        "failed": failed,
    }
    return Result(host=task.host, result=out, changed=False)


def pull_failed(host: str, failed: Mapping[str, str]) -> ImagePullFailed:
    """The deploy's error for the stacks whose pull failed."""
    return ImagePullFailed(f"{host}: " + " | ".join(failed.values()))


def record_digests(
    task: Task, *, stacks: list[RenderedStack], listing: str | None = None
) -> Result:
    """Read which image digest each service of the deployed stacks runs (one command).

    ``listing``: `running_images_command`'s stdout read already (in the health wait's stable
    window, `finish_stacks`) and still true; None: read it now.

    Returns:
        Result with ``result`` = ``{stack: {service: {"image", "digest", "digest_source"}}}``:
        ``digest_source`` is ``repo_digest`` (the registry digest of the image's repository) or
        ``image_id`` (the image has no registry digest: a local build).
    """
    conn = host_connection(task)
    by_project = {s.project: s.name for s in stacks}
    if listing is None:
        listing = conn.run(running_images_command()).stdout
    out: dict[str, dict[str, dict[str, str]]] = {s.name: {} for s in stacks}
    for r in parse_running_images(listing):
        if r.project in by_project and r.image_id:
            digest, source = r.digest()
            out[by_project[r.project]][r.service] = {
                "image": r.image,
                "digest": digest,
                "digest_source": source,
            }
    return Result(host=task.host, result=out, changed=False)
