"""Runbook ``deploy``: the guide's rollout order, each stage a gate.

DNS (the dns hosts' zone) -> compute stacks (ollama, qdrant; the post-deploy steps pull the
missing models, every host in parallel) -> compute models (every ``ollama_models`` entry
installed with its pinned digest; on a host that declares a GPU, the GPU gate) -> trusted stacks
(litellm, openwebui; LiteLLM's config is rendered again from the models the compute stage found
installed, so it routes only to models that are there) -> verify. ``--filter`` narrows the
hosts of every stage; ``--stacks`` narrows the stacks (and skips the DNS stage, like the
guide's ``--tags``). Everything is rendered before any host is touched, so a missing secret or
an undefined template variable stops the run (exit 2) with nothing changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nornir.core import Nornir

from nornir_homehub.api import RunContext
from nornir_homehub.connection import open_connections
from nornir_homehub.inventory import hosts_by_role
from nornir_homehub.runbook_options import Option

if TYPE_CHECKING:
    from nornir_homehub.tasks.models import ModelsAhead

OPTIONS = [
    Option("stacks", list, None, "only these stacks (skips the DNS stage), e.g. ollama,qdrant"),
    Option("force", bool, False, "run compose up even when nothing changed"),
    Option("verify", bool, True, "run the verify stage after deploying"),
    Option(
        "rollback",
        bool,
        True,
        "roll a stack whose health wait fails back to its previous release (False: keep the "
        "failed state for debugging)",
    ),
    Option("pull", bool, False, "pull every image first; recreate what a tag's new image replaces"),
]


def run(
    nr: Nornir,
    ctx: RunContext,
    *,
    stacks: list[str] | None = None,
    force: bool = False,
    verify: bool = True,
    rollback: bool = True,
    pull: bool = False,
    **_: Any,
) -> None:
    """Roll out: dns -> compute -> trusted -> verify (stages without selected hosts are skipped)."""
    from nornir_homehub.tasks.deploy import FactsAhead, deploy_stacks
    from nornir_homehub.tasks.models import ModelsAhead
    from nornir_homehub.tasks.releases import ReleaseContext

    settings = ctx.settings
    hosts = nr.inventory.hosts
    only = set(stacks) if stacks else None
    # Render every host now: template errors surface before any connection is opened.
    secrets, rendered = ctx.render_all(nr, only)

    # Every host locked before the first change, one by one in name order (before the
    # connections are opened side by side): two deploys never interleave their stages.
    ctx.lock(nr)
    open_connections(nr)
    if not only and hosts_by_role(hosts, "dns"):
        from nornir_homehub.tasks.dns import deploy_zone

        ctx.stage("dns", nr.filter(role="dns"), deploy_zone, dry_run=ctx.dry_run)
    # Extra compute-like nodes (role `node`, e.g. the lab's scale hosts) deploy with compute.
    stages = (("compute", ("compute", "node")), ("trusted", ("trusted",)))
    chosen = {
        stage: [h.name for r in roles for h in hosts_by_role(hosts, r) if rendered.get(h.name)]
        for stage, roles in stages
    }
    # The trusted hosts' facts are read while the compute stage runs; its stage plans from
    # them when the run changed nothing in between (a no-op), else it reads them again.
    ahead = FactsAhead(nr, {h: rendered[h] for h in chosen["trusted"]})
    # Ollama's answers for the models check, read in the compute stage's own round trips.
    models = ModelsAhead(hosts[h] for h in chosen["compute"] if _runs_ollama(hosts[h], only))
    changed = False
    try:
        for stage, _roles in stages:
            selected = chosen[stage]
            if stage == "trusted" and selected and ctx.facts.get("ollama_installed"):
                # The facts of the compute stage: LiteLLM lists only the models that are there.
                trusted = nr.filter(filter_func=lambda h, sel=selected: h.name in sel)
                rendered.update(ctx.render_all(trusted, only, facts=ctx.facts)[1])
            if selected:
                agg = ctx.stage(
                    f"{stage} stacks",
                    nr.filter(filter_func=lambda h, sel=selected: h.name in sel),
                    deploy_stacks,
                    stacks_dir=settings.stacks_path,
                    secrets=secrets,
                    only=only,
                    rendered=rendered,
                    dry_run=ctx.dry_run,
                    force=force,
                    release=ReleaseContext.of_run(ctx, auto_rollback=rollback),
                    pull=pull,
                    early=ahead.take(changed_since=changed) if stage == "trusted" else None,
                    models=models if stage == "compute" else None,
                )
                changed |= any(multi.changed for multi in agg.values())
                if stage == "compute" and not ctx.dry_run:
                    # Hosts whose stacks failed (--keep-going) have nothing to check.
                    ok = [h for h in selected if h not in agg.failed_hosts]
                    runs = [h for h in ok if _runs_ollama(hosts[h], only)]
                    _compute_models(nr, ctx, runs, models)
    finally:
        # Never left reading on a trusted host's connection while the run ends (a gate that
        # stopped it): its audit line and lock release come next on that connection.
        # Bounded, so that Ctrl-C is not held up by a host that stopped answering.
        ahead.take(changed_since=True, timeout=10)
    if (
        verify
        and not ctx.dry_run
        and any((d / "verify.py").is_file() for d in settings.runbooks_path)
    ):
        from nornir_homehub.api import load_runbook

        load_runbook(settings, "verify")(nr, ctx, stacks=stacks)


def _runs_ollama(host: Any, only: set[str] | None) -> bool:
    return "ollama" in (host.get("stacks") or []) and (only is None or "ollama" in only)


def _compute_models(nr: Nornir, ctx: RunContext, names: list[str], ahead: ModelsAhead) -> None:
    """Stage ``compute models`` (a gate): the models are there, and on the GPU where declared.

    Its facts (compute host -> installed models) go to ``ctx.facts["ollama_installed"]``.
    A dry run skips it: nothing was pulled, so LiteLLM's config is the inventory's list.
    ``ahead``: the API's answers the compute stage read on the way (used while fresh).
    """
    from nornir_homehub.tasks.models import ModelsOutcome, ensure_models

    if not names:
        return
    agg = ctx.stage(
        "compute models",
        nr.filter(filter_func=lambda h, sel=names: h.name in sel),
        ensure_models,
        ahead=ahead,
    )
    ctx.facts["ollama_installed"] = {
        host: list(multi[0].result.installed)
        for host, multi in agg.items()
        if isinstance(multi[0].result, ModelsOutcome)
    }
