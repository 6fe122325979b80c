"""The tasks of ``status``, ``drift`` and ``logs``: they read the hosts and change nothing.

`inspect_stacks` gathers the deploy's own stack facts and the runtime facts in one round trip
per host and returns each stack's status and drift (`plan.status`, `plan.drift`);
`inspect_zone` runs the dns deploy as a dry run and returns the zone's drift; `fetch_logs`
reads the logs of a stack's containers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nornir.core.task import Result, Task

from nornir_homehub.connection import host_connection
from nornir_homehub.errors import StackFailed
from nornir_homehub.facts.logs import LogLine, logs_command, parse_logs
from nornir_homehub.facts.runtime import parse_runtime, runtime_commands
from nornir_homehub.facts.stacks import parse_stack_facts, stack_fact_batch
from nornir_homehub.plan.drift import extra_projects, plan_drift, zone_drift
from nornir_homehub.plan.status import StackStatus, stack_status

if TYPE_CHECKING:
    from nornir_homehub.plan.drift import DriftItem
    from nornir_homehub.render import RenderedStack


@dataclass(frozen=True)
class HostInspection:
    """What `inspect_stacks` found on one host: each stack's status, and extra containers."""

    host: str
    stacks: tuple[StackStatus, ...]
    extra: tuple[DriftItem, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "host": self.host,
            "stacks": [s.to_dict() for s in self.stacks],
            "extra": [d.to_dict() for d in self.extra],
        }


def inspect_stacks(
    task: Task,
    *,
    rendered: Mapping[str, list[RenderedStack]],
    projects: Mapping[str, str],
    now: dt.datetime | None = None,
) -> Result:
    """Status and drift of every stack the host deploys, from one batched round trip.

    Args:
        task: the Nornir task.
        rendered: host name -> its rendered stacks (rendered before any host was touched).
        projects: compose project -> stack name, for every stack there is (extra containers).
        now: the time uptimes are counted to (default: now).

    Returns:
        Result with ``result`` = `HostInspection`, ``changed`` False. A host without stacks
        is not contacted.

    Raises:
        StackFailed: Docker Engine did not answer on the host.
    """
    stacks = rendered.get(task.host.name, [])
    if not stacks:
        return Result(host=task.host, result=HostInspection(task.host.name, ()), changed=False)
    batch = {**stack_fact_batch(stacks), **runtime_commands(s.project_dir for s in stacks)}
    results = host_connection(task).run_batch(batch)
    facts = parse_stack_facts(results)
    if facts.docker_error:
        raise StackFailed(
            f"{task.host.name}: Docker Engine not usable ({facts.docker_error}); "
            "check `docker version` and `systemctl status docker` on the host"
        )
    runtime = parse_runtime(results["runtime"].stdout, results["state_times"].stdout)
    when = now or dt.datetime.now(dt.UTC)
    statuses = tuple(stack_status(s, facts, runtime, plan_drift(s, facts), when) for s in stacks)
    extra = extra_projects(task.host.name, facts, projects, {s.project for s in stacks})
    return Result(
        host=task.host, result=HostInspection(task.host.name, statuses, extra), changed=False
    )


def inspect_zone(task: Task, **kwargs: Any) -> Result:
    """The zone's drift on a dns host: the dns deploy's record plan, as a dry run.

    ``kwargs`` go to `tasks.dns.deploy_zone` (``zone_hosts_map``, ``today``).

    Returns:
        Result with ``result`` = the drift items (tuple of `DriftItem`), ``changed`` False.
    """
    from nornir_homehub.tasks.dns import deploy_zone

    done = deploy_zone(task, dry_run=True, **kwargs)
    return Result(
        host=task.host, result=zone_drift(task.host.name, done.result.plan), changed=False
    )


def fetch_logs(
    task: Task, *, project: str, tail: int | None = None, since: str | None = None
) -> Result:
    """The log lines of every container of compose ``project`` on the host.

    Returns:
        Result with ``result`` = list of `LogLine` (not yet redacted), ``changed`` False.

    Raises:
        StackFailed: Docker Engine did not answer.
    """
    out = host_connection(task).run(logs_command(project, tail=tail, since=since))
    if not out.ok:
        detail = out.stderr.strip().splitlines()[-1:] or [f"exit {out.exit_code}"]
        raise StackFailed(f"{task.host.name}: cannot read the logs of {project}: {detail[0]}")
    lines: list[LogLine] = parse_logs(out.stdout)
    return Result(host=task.host, result=lines, changed=False)
