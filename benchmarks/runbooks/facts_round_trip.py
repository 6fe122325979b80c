"""Benchmark runbook ``facts_round_trip``: a deploy's facts round trip, and nothing else.

``benchmarks/run.py --workloads 6`` runs it on the light lab nodes (``lab up --hosts N
--light``: sshd only, no Docker Engine) to measure the controller: each host's stacks are
rendered offline as a deploy renders them, then one batched facts command per host (file
hashes, data dirs, state records, containers) goes out and is parsed, exactly as
`nornir_homehub.tasks.deploy` gathers it. Nothing is planned or applied. A light node has no
Docker Engine, so its container fact says so (``docker`` in the result); that is expected here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nornir.core.task import Result, Task

from nornir_homehub.connection import host_connection
from nornir_homehub.tasks.deploy import gather_stack_facts

if TYPE_CHECKING:
    from collections.abc import Mapping

    from nornir.core import Nornir

    from nornir_homehub.api import RunContext
    from nornir_homehub.render import RenderedStack

OPTIONS: list[object] = []
READ_ONLY = True  # changes nothing on a host: no deploy lock, no audit line


def gather_facts(task: Task, rendered: Mapping[str, list[RenderedStack]]) -> Result:
    """Gather the deploy's facts of the host's stacks in one round trip; change nothing."""
    facts = gather_stack_facts(host_connection(task), rendered[task.host.name])
    summary = {
        "files": len(facts.files),
        "dirs": len(facts.dirs),
        "containers": len(facts.containers),
        "docker": facts.docker_error or "ok",
    }
    return Result(host=task.host, result=summary)


def run(nr: Nornir, ctx: RunContext) -> None:
    """Render every selected host's stacks, then gather their facts in parallel."""
    _, rendered = ctx.render_all(nr)
    ctx.stage("facts", nr, gather_facts, gate=False, rendered=rendered)
