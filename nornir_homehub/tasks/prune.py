"""The task of ``prune``: remove unused images of the stacks' repositories beyond ``keep``.

`prune_images` reads the image and container facts in one round trip (`facts.images`), plans
with `plan.prune.plan_prune` and, unless it is a dry run, removes exactly the planned images in
a second round trip, one ``docker image rm <id>`` each (never ``-f``).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nornir.core.task import Result, Task

from nornir_homehub.connection import host_connection
from nornir_homehub.errors import StackFailed
from nornir_homehub.facts.images import images_problem, parse_images, prune_fact_batch
from nornir_homehub.facts.runtime import parse_runtime
from nornir_homehub.plan.drift import compose_images
from nornir_homehub.plan.prune import DEFAULT_KEEP, PrunePlan, plan_prune, removal_outcome
from nornir_homehub.records import as_dict

if TYPE_CHECKING:
    from nornir_homehub.render import RenderedStack


@dataclass(frozen=True)
class Removal:
    """What ``docker image rm`` did with one planned image.

    Attributes:
        outcome: ``removed``, ``in use`` (skipped: a container uses it now), ``gone``
            (removed by someone else meanwhile) or ``failed``.
        detail: Docker's message when it did not remove it.
    """

    image_id: str
    name: str
    outcome: str
    detail: str = ""


@dataclass(frozen=True)
class HostPrune:
    """What `prune_images` planned and did on one host.

    Attributes:
        plan: every image of the stacks' repositories and whether it goes.
        dry_run: nothing was removed.
        removals: what each ``docker image rm`` did (empty in a dry run).
    """

    plan: PrunePlan
    dry_run: bool
    removals: tuple[Removal, ...] = ()

    @property
    def failed(self) -> tuple[Removal, ...]:
        """The removals that failed (a skipped or already gone image is no failure)."""
        return tuple(r for r in self.removals if r.outcome == "failed")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            **self.plan.to_dict(),
            "dry_run": self.dry_run,
            "removals": [as_dict(r) for r in self.removals],
        }


def prune_images(
    task: Task,
    *,
    rendered: Mapping[str, list[RenderedStack]],
    keep: int | None = None,
    dry_run: bool = False,
) -> Result:
    """Plan, and unless ``dry_run`` do, the removal of the host's unused stack images.

    Args:
        task: the Nornir task.
        rendered: host name -> its rendered stacks (their compose files name the images).
        keep: unused images kept per repository (default: inventory ``images_keep``, else 1).
        dry_run: plan only; send no ``docker image rm``.

    Returns:
        Result with ``result`` = `HostPrune`, ``changed`` True when an image was removed,
        ``failed`` True when a removal failed. A host without stacks is not contacted.

    Raises:
        StackFailed: Docker Engine did not answer on the host, or its images could not be read.
    """
    name = task.host.name
    keep_n = int(keep if keep is not None else task.host.get("images_keep", DEFAULT_KEEP))
    wanted = {image: s.name for s in rendered.get(name, []) for image in compose_images(s).values()}
    if not wanted:
        plan = plan_prune(name, (), {}, {}, keep_n)
        return Result(host=task.host, result=HostPrune(plan, dry_run), changed=False)
    conn = host_connection(task)
    facts = conn.run_batch(prune_fact_batch())
    docker = next((r for r in facts.values() if not r.ok), None)
    if docker is not None:
        why = (docker.stderr.strip().splitlines() or [f"exit {docker.exit_code}"])[-1]
        raise StackFailed(
            f"{name}: Docker Engine not usable ({why}); "
            "check `docker version` and `systemctl status docker` on the host"
        )
    problem = images_problem(facts["images"].stderr)
    if problem:
        raise StackFailed(f"{name}: cannot read the images: {problem}")
    in_use: dict[str, list[str]] = {}
    for container, run in parse_runtime(facts["runtime"].stdout, "").containers.items():
        in_use.setdefault(run.image_id, []).append(container)
    plan = plan_prune(name, parse_images(facts["images"].stdout), in_use, wanted, keep_n)
    if dry_run or not plan.removals:
        return Result(host=task.host, result=HostPrune(plan, dry_run), changed=False)
    answers = conn.run_batch({f"rm{i}": c for i, c in enumerate(plan.commands())})
    removals = tuple(
        Removal(d.image_id, d.name, *removal_outcome(res.exit_code, res.stderr))
        for d, res in zip(plan.removals, answers.values(), strict=True)
    )
    done = HostPrune(plan, dry_run, removals)
    changed = any(r.outcome == "removed" for r in removals)
    return Result(host=task.host, result=done, changed=changed, failed=bool(done.failed))


@dataclass(frozen=True)
class ReleasePrune:
    """What `prune_releases` planned and did on one host.

    Attributes:
        host: the host.
        kept: how many releases stay.
        removals: (stack, release id) of each release beyond ``releases_keep``.
        dry_run: nothing was removed.
    """

    host: str
    kept: int
    removals: tuple[tuple[str, str], ...]
    dry_run: bool

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        action = "would remove" if self.dry_run else "removed"
        return {
            "host": self.host,
            "kept": self.kept,
            "releases": [{"stack": s, "id": i, "action": action} for s, i in self.removals],
        }


def prune_releases(
    task: Task, *, rendered: Mapping[str, list[RenderedStack]], dry_run: bool = False
) -> Result:
    """Plan, and unless ``dry_run`` do, the removal of releases beyond ``releases_keep``.

    The newest ``releases_keep`` (default 5) releases of each stack stay; the newest one (the
    current release) always does. A host without stacks is not contacted.

    Returns:
        Result with ``result`` = `ReleasePrune`, ``changed`` True when a release was removed.
    """
    from nornir_homehub.facts.releases import release_path
    from nornir_homehub.plan.releases import DEFAULT_RELEASES_KEEP, plan_release_prune
    from nornir_homehub.tasks.hostlock import homehub_root
    from nornir_homehub.tasks.releases import read_releases

    name = task.host.name
    if not rendered.get(name):
        return Result(host=task.host, result=ReleasePrune(name, 0, (), dry_run), changed=False)
    conn = host_connection(task)
    root = homehub_root(task)
    releases = read_releases(conn, root)
    keep = int(task.host.get("releases_keep") or DEFAULT_RELEASES_KEEP)
    going = plan_release_prune(releases, keep)
    done = ReleasePrune(
        name, len(releases) - len(going), tuple((r.stack, r.id) for r in going), dry_run
    )
    if dry_run or not going:
        return Result(host=task.host, result=done, changed=False)
    dirs = " ".join(shlex.quote(release_path(root, r.stack, r.id).rsplit("/", 1)[0]) for r in going)
    conn.run(f"rm -rf -- {dirs}", timeout=120, check=True)
    return Result(host=task.host, result=done, changed=True)
