"""The task of ``outdated``: one round trip per host asks the registries and reads what runs.

The batch holds `facts.images.running_images_command` (what the stacks' containers run) and,
side by side, one `facts.registry.manifest_head_command` per distinct tag the stacks name.
Changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nornir.core.task import Result, Task

from nornir_homehub.connection import host_connection
from nornir_homehub.facts.images import parse_running_images, running_images_command
from nornir_homehub.facts.registry import manifest_head_command, parse_manifest_head
from nornir_homehub.imageref import parse_reference
from nornir_homehub.plan.drift import compose_images
from nornir_homehub.plan.outdated import plan_outdated

if TYPE_CHECKING:
    from collections.abc import Mapping

    from nornir_homehub.render import RenderedStack

RUNNING = "running"


def find_outdated(task: Task, *, rendered: Mapping[str, list[RenderedStack]]) -> Result:
    """Judge every service image of the host's stacks (`plan.outdated`).

    Returns:
        Result with ``result`` = a tuple of `plan.outdated.ImageFreshness`, ``changed`` False.
    """
    stacks = rendered.get(task.host.name, [])
    if not stacks:
        return Result(host=task.host, result=(), changed=False)
    insecure = set(task.host.get("insecure_registries") or ())
    images = {s.name: compose_images(s) for s in stacks}
    tags = sorted({i for m in images.values() for i in m.values() if "@" not in i})
    batch = {RUNNING: running_images_command()}
    for n, image in enumerate(tags):
        ref = parse_reference(image)
        batch[f"head:{n}"] = manifest_head_command(ref, insecure=ref.registry in insecure)
    conn = host_connection(task)
    res = conn.run_batch(batch, parallel=True)
    running = parse_running_images(res[RUNNING].stdout)
    heads = {
        image: parse_manifest_head(r.exit_code, r.stdout, r.stderr)
        for n, image in enumerate(tags)
        for r in (res[f"head:{n}"],)
    }
    rows = tuple(
        row
        for s in stacks
        for row in plan_outdated(task.host.name, s.name, images[s.name], running, heads, s.project)
    )
    return Result(host=task.host, result=rows, changed=False)
