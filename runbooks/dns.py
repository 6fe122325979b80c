"""Runbook ``dns``: deploy the homehub zone on the dns host(s), then verify what they serve.

Replaces the guide's ``ansible-playbook playbooks/deploy-bind9.yml`` ("1. Update DNS"). The
zone is derived from the whole inventory (A records, CNAME targets) even when ``--filter``
narrows the hosts; only dns hosts among the selected ones are touched. Records in the zone
that nornir_homehub did not write are kept; ``prune``/``force`` allow what the plan's safety
checks refuse (see `nornir_homehub.plan.zoneplan`).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from nornir_homehub.errors import ConfigError
from nornir_homehub.runbook_options import Option
from nornir_homehub.tasks.dns import DEFAULT_POLL_TIMEOUT, check_zone, deploy_zone

if TYPE_CHECKING:
    from nornir.core import Nornir
    from nornir.core.task import AggregatedResult

    from nornir_homehub.api import RunContext


OPTIONS = [
    Option("verify", bool, True, "query the dns host after the update"),
    Option("today", dt.date, None, "date for the YYYYMMDDNN serial (default: today)"),
    Option(
        "poll_timeout",
        float,
        DEFAULT_POLL_TIMEOUT,
        "seconds to wait for named to serve the new serial",
        positive=True,
    ),
    Option("prune", bool, False, "allow replacing the values of records someone else wrote"),
    Option(
        "force",
        bool,
        False,
        "allow what prune allows, conflicts, large changes and an unreadable zone",
    ),
    Option("diff", bool, False, "also show the zone file's whole-text unified diff"),
]


def run(
    nr: Nornir,
    ctx: RunContext | None = None,
    *,
    dry_run: bool = False,
    verify: bool = True,
    prune: bool = False,
    force: bool = False,
    diff: bool = False,
    **options: Any,
) -> AggregatedResult:
    """Deploy the zone on the selected dns hosts; verify it unless dry-run.

    Args:
        nr: the selected hosts (the CLI's ``--filter``); only role=dns hosts are used.
        ctx: the run context (stages, report) when run by the CLI or `HomeHub`; without it
            the task runs directly on ``nr`` (scripts, tests).
        dry_run: show the record-level plan and the serial it would set; change nothing.
        verify: after deploying, check every name, absent name and the served serial.
        prune: allow replacing the values of records someone else wrote.
        force: allow what ``prune`` allows, conflicts, large changes, an unreadable zone.
        diff: also show the zone file's whole-text unified diff.
        **options: passed to `deploy_zone` (``today``, ``poll_timeout``).

    Returns:
        The deploy stage's aggregated result (each host's ``result`` a `ZoneDeployment`).

    Raises:
        ConfigError: no dns host among the selected hosts.

    """
    targets = nr.filter(filter_func=lambda h: h.get("role") == "dns")
    if not targets.inventory.hosts:
        raise ConfigError("no host with role dns among the selected hosts")
    dry = dry_run or bool(ctx and ctx.dry_run)
    options.update(prune=bool(prune), force=bool(force), file_diff=bool(diff))
    if ctx is None:
        return targets.run(task=deploy_zone, name="dns", dry_run=dry, **options)
    agg = ctx.stage("dns", targets, deploy_zone, dry_run=dry, **options)
    if verify and not dry:
        ctx.stage("dns verify", targets, check_zone)
    return agg
