"""Runbook ``gpu_metrics``: write each compute host's GPU and Ollama metrics for node-exporter.

The facts of ``check gpu`` and ``check ollama`` (no warm-up) become ``homehub_gpu.prom`` in the
textfile folder of the host's node-exporter, which Prometheus scrapes. Schedule it (cron, a
systemd timer) every minute or so: alert GpuMetricsStale fires after 15 minutes without it.
"""

from __future__ import annotations

from typing import Any

from nornir.core import Nornir

from nornir_homehub.api import RunContext
from nornir_homehub.connection import open_connections
from nornir_homehub.inventory import hosts_by_role

OPTIONS: list[Any] = []


def run(nr: Nornir, ctx: RunContext, **_: Any) -> None:
    """Write homehub_gpu.prom on every selected compute host."""
    from nornir_homehub.tasks.metrics import write_gpu_metrics

    names = {h.name for h in hosts_by_role(nr.inventory.hosts, "compute")}
    compute = nr.filter(filter_func=lambda h: h.name in names)
    if not compute.inventory.hosts:
        return
    open_connections(compute)
    ctx.stage("gpu metrics", compute, write_gpu_metrics, dry_run=ctx.dry_run)
