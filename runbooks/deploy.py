"""Runbook ``deploy``: the guide's rollout order, each stage a gate.

DNS (the dns hosts' zone) -> compute stacks (ollama, qdrant) -> trusted stacks (litellm,
openwebui) -> verify. ``--filter`` narrows the hosts of every stage; ``--stacks`` narrows the
stacks (and skips the DNS stage, like the guide's ``--tags``). Everything is rendered before any
host is touched, so a missing secret or an undefined template variable stops the run (exit 2)
with nothing changed.
"""

from __future__ import annotations

from typing import Any

from nornir.core import Nornir

from nornir_homehub.api import RunContext
from nornir_homehub.connection import open_connections
from nornir_homehub.inventory import hosts_by_role
from nornir_homehub.runbook_options import Option

OPTIONS = [
    Option("stacks", list, None, "only these stacks (skips the DNS stage), e.g. ollama,qdrant"),
    Option("force", bool, False, "run compose up even when nothing changed"),
    Option("verify", bool, True, "run the verify stage after deploying"),
    Option("pull", bool, False, "pull every image first; recreate what a tag's new image replaces"),
]


def run(
    nr: Nornir,
    ctx: RunContext,
    *,
    stacks: list[str] | None = None,
    force: bool = False,
    verify: bool = True,
    pull: bool = False,
    **_: Any,
) -> None:
    """Roll out: dns -> compute -> trusted -> verify (stages without selected hosts are skipped)."""
    from nornir_homehub.tasks.deploy import deploy_stacks

    settings = ctx.settings
    hosts = nr.inventory.hosts
    only = set(stacks) if stacks else None
    # Render every host now: template errors surface before any connection is opened.
    secrets, rendered = ctx.render_all(nr, only)

    open_connections(nr)
    if not only and hosts_by_role(hosts, "dns"):
        from nornir_homehub.tasks.dns import deploy_zone

        ctx.stage("dns", nr.filter(role="dns"), deploy_zone, dry_run=ctx.dry_run)
    # Extra compute-like nodes (role `node`, e.g. the lab's scale hosts) deploy with compute.
    for stage, roles in (("compute", ("compute", "node")), ("trusted", ("trusted",))):
        selected = [h.name for r in roles for h in hosts_by_role(hosts, r) if rendered.get(h.name)]
        if selected:
            ctx.stage(
                f"{stage} stacks",
                nr.filter(filter_func=lambda h, sel=selected: h.name in sel),
                deploy_stacks,
                stacks_dir=settings.stacks_path,
                secrets=secrets,
                only=only,
                rendered=rendered,
                dry_run=ctx.dry_run,
                force=force,
                pull=pull,
            )
    if (
        verify
        and not ctx.dry_run
        and any((d / "verify.py").is_file() for d in settings.runbooks_path)
    ):
        from nornir_homehub.api import load_runbook

        load_runbook(settings, "verify")(nr, ctx, stacks=stacks)
