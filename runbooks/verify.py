"""Runbook ``verify``: the guide's Verification section as checks, every layer, every host.

Stages (each runs even when an earlier one found failures; the run still exits 1):
``verify dns`` (the zone the dns host serves), ``verify stacks`` (containers, HTTP readiness,
in-container network, forward-auth on the trusted/compute hosts, each Ollama backend through
LiteLLM's /health on the trusted host), ``verify models`` (Ollama
serves the configured models, loaded after a warm-up), ``verify gpu`` (nvidia-smi; skipped
with the reason on hosts whose inventory has no GPU), ``verify monitoring`` (every target of
the trusted host's Prometheus up, its alert rules loaded, through Prometheus's HTTP API).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nornir.core import Nornir

from nornir_homehub.api import RunContext
from nornir_homehub.inventory import hosts_by_role, site_vars
from nornir_homehub.runbook_options import Option

OPTIONS = [
    Option("stacks", list, None, "only these stacks' checks (skips DNS and GPU), e.g. ollama"),
]
READ_ONLY = True  # changes nothing on a host: no deploy lock, no audit line


def _stage(ctx: RunContext, name: str, nr: Nornir, task: Callable[..., Any], **kw: Any) -> None:
    """Run one check stage; failed checks are recorded but do not stop the later stages."""
    if nr.inventory.hosts:
        ctx.stage(name, nr, task, gate=False, **kw)


def run(nr: Nornir, ctx: RunContext, *, stacks: list[str] | None = None, **_: Any) -> None:
    """Verify dns -> stacks -> models -> gpu -> monitoring on the selected hosts."""
    from nornir_homehub.tasks.dns import verify_zone
    from nornir_homehub.tasks.gpu import check_gpu
    from nornir_homehub.tasks.monitoring import verify_monitoring
    from nornir_homehub.tasks.ollama import check_ollama
    from nornir_homehub.tasks.verify import verify_stacks

    settings = ctx.settings
    hosts = nr.inventory.hosts
    only = list(stacks) if stacks else None
    secrets = ctx.secrets()
    site = {h.name: site_vars(nr, h) for h in hosts.values()}

    def by_role(*roles: str) -> Nornir:
        names = {h.name for r in roles for h in hosts_by_role(hosts, r)}
        return nr.filter(filter_func=lambda h: h.name in names)

    def zone_checks(task: Any) -> Any:
        from nornir.core.task import Result

        # No zone_hosts_map: the zone is the whole inventory's even under --filter role=dns.
        checks = verify_zone(task)
        return Result(host=task.host, result=checks, failed=any(c.failed for c in checks))

    if not only:
        _stage(ctx, "verify dns", by_role("dns"), zone_checks)
    _stage(
        ctx,
        "verify stacks",
        by_role("compute", "node", "trusted"),
        verify_stacks,
        stacks_dir=settings.stacks_path,
        secrets=secrets,
        only=only,
        site=site,
    )
    compute = by_role("compute")
    if not only or "ollama" in only:
        _stage(ctx, "verify models", compute, check_ollama)
    if not only:
        _stage(ctx, "verify gpu", compute, check_gpu)
    if not only or "monitoring" in only:
        names = {h.name for h in hosts.values() if "monitoring" in (h.get("stacks") or [])}
        monitored = nr.filter(filter_func=lambda h: h.name in names)
        _stage(ctx, "verify monitoring", monitored, verify_monitoring, site=site)
