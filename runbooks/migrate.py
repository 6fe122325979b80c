"""Runbook ``migrate``: from the guide's old monolithic stacks to one stack per service.

The guide's Migration Steps are "1. deploy new stacks, 2. verify, 3. ``docker compose down`` in
the old directories, 4. remove the old directories (keep data in /srv/docker)". Steps 1 and 3
cannot happen in that order: the old ``ai``/``ai-compute`` projects hold the container names
(``ollama``, ``qdrant``, ``litellm``, ``open-webui``) and ports the new stacks need, and the
deploy refuses to start next to them. So, per role (compute first, then trusted, as the guide
deploys), each stage a gate::

    migrate plan <role>   facts in one round trip -> plan (what stops, what goes, data kept)
    stop old <role>       docker compose down in each old dir (volumes kept, never -v)
    <role> stacks         the deploy task of ``deploy`` (render first: secrets checked)
    verify <role>         the stack checks + every kept data dir still there
    remove old <role>     rm -rf of the old dirs the plan marks (never under data_root)

Every host is planned (both roles) before any host changes. An old dir that must not be
removed (a system directory, the data root, a new stack's dir, or a directory that does not
hold the old compose project: no compose file there and no container ran from it) refuses the
whole run with exit 2 before anything is stopped or removed. A failed deploy or verify keeps
the old directory and stops with a ``keep old <role>`` stage whose error names the rollback:
``docker compose down`` in the new stack dirs, then ``docker compose up -d`` in the old one.
``--dry-run`` runs only the plan stages: the report shows each host's plan and what the deploy
of the new stacks would do; nothing changes.

Options: ``old_dirs`` (``-o old_dirs=/opt/stacks/ai-compute``, comma-separated; default: the
inventory's ``legacy_stack_dirs`` for the host's role). DNS is not touched: run ``deploy``
(or ``dns``) for the zone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nornir.core import Nornir

from nornir_homehub.api import RunContext
from nornir_homehub.errors import ConfigError
from nornir_homehub.inventory import hosts_by_role
from nornir_homehub.runbook_options import Option

OPTIONS = [
    Option(
        "old_dirs",
        list,
        None,
        "old stack dirs to migrate from, e.g. /opt/stacks/ai (default: legacy_stack_dirs)",
    ),
]


def _stage(
    ctx: RunContext, name: str, nr: Nornir, hosts: list[str], task: Callable[..., Any], **kw: Any
) -> set[str]:
    """Run a stage on ``hosts`` without stopping; return the hosts that failed."""
    if not hosts:
        return set()
    agg = ctx.stage(name, nr.filter(filter_func=lambda h: h.name in hosts), task, gate=False, **kw)
    return set(agg.failed_hosts)


def run(nr: Nornir, ctx: RunContext, *, old_dirs: list[str] | None = None, **_: Any) -> None:
    """Migrate the selected compute, then trusted hosts (see the module docstring)."""
    from nornir_homehub.errors import UnsafeOldDir
    from nornir_homehub.inventory import site_vars
    from nornir_homehub.tasks.deploy import deploy_stacks
    from nornir_homehub.tasks.migrate import (
        keep_legacy,
        old_dirs_for,
        plan_migrate,
        remove_legacy,
        stop_legacy,
        verify_migration,
    )

    settings = ctx.settings
    hosts = nr.inventory.hosts
    # Render every host now: template errors surface before any host is touched.
    secrets, rendered = ctx.render_all(nr)
    site = {h.name: site_vars(nr, h) for h in hosts.values()}
    dirs = {
        h.name: old_dirs_for(
            {"legacy_stack_dirs": h.get("legacy_stack_dirs")}, h.get("role"), old_dirs
        )
        for h in hosts.values()
    }

    # Plan every host of both roles first: a refused old dir stops the run before any change.
    plans: dict[str, Any] = {}
    planned: dict[str, list[str]] = {}
    refused: list[str] = []
    plan_failures: list[tuple[str, str]] = []  # (stage, "host: Error: message")
    for role in ("compute", "trusted"):
        selected = [h.name for h in hosts_by_role(hosts, role) if rendered.get(h.name)]
        if not selected:
            continue
        stage = f"migrate plan {role}"
        # Not a gate: every host of both roles is planned, then the failures are judged below.
        agg = ctx.stage(
            stage,
            nr.filter(filter_func=lambda h, sel=selected: h.name in sel),
            plan_migrate,
            gate=False,
            old_dirs=dirs,
            rendered=rendered,
        )
        for h in selected:
            exc = next((r.exception for r in agg[h] if r.exception is not None), None)
            if not agg[h].failed:
                plans[h] = agg[h][0].result
            elif isinstance(exc, UnsafeOldDir):
                refused.append(str(exc))
            else:
                plan_failures.append((stage, f"{h}: {type(exc).__name__}: {exc}"))
        planned[role] = [h for h in selected if h in plans]
    if refused:
        raise ConfigError("migrate refused, nothing was changed on any host: " + "; ".join(refused))
    if plan_failures and not ctx.keep_going:
        ctx.stop(plan_failures[0][0], "; ".join(why for _stage_name, why in plan_failures))
    if ctx.dry_run:
        return

    for role, ok in planned.items():
        failed = _stage(
            ctx, f"stop old {role}", nr, [h for h in ok if plans[h].stop], stop_legacy, plans=plans
        )
        # Deploy, then verify: each on the hosts that have not failed yet.
        new_stacks: list[tuple[str, Callable[..., Any], dict[str, Any]]] = [
            (f"{role} stacks", deploy_stacks, {"rendered": rendered}),
            (f"verify {role}", verify_migration, {"plans": plans, "site": site}),
        ]
        for name, task, kw in new_stacks:
            failed |= _stage(
                ctx,
                name,
                nr,
                [h for h in ok if h not in failed],
                task,
                stacks_dir=settings.stacks_path,
                secrets=secrets,
                **kw,
            )
        passed = [h for h in ok if h not in failed]
        _stage(
            ctx,
            f"remove old {role}",
            nr,
            [h for h in passed if plans[h].remove],
            remove_legacy,
            plans=plans,
            rendered=rendered,
        )
        if failed:
            ctx.stage(
                f"keep old {role}",
                nr.filter(filter_func=lambda h, bad=failed: h.name in bad),
                keep_legacy,
                plans=plans,
                why="deploy or verify of the new stacks failed",
            )
