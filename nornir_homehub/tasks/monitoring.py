"""The ``verify monitoring`` task: every Prometheus target up, read through Prometheus's API.

Runs on the hosts whose stacks include ``monitoring`` (Prometheus). The facts are
`facts.prometheus.gather_prometheus` (``/api/v1/targets`` and ``/api/v1/rules`` asked on the
host itself, over its connection), the checks `checks.monitoring.evaluate_targets`. A target
that was just (re)started or configured reads down or unknown until Prometheus's next scrape,
so the API is asked again, every second, for at most ``monitoring_settle_timeout`` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nornir_homehub.checks.model import Check, Layer, Status
from nornir_homehub.checks.monitoring import evaluate_targets, expected_targets, pending
from nornir_homehub.facts.prometheus import gather_prometheus, prometheus_url

if TYPE_CHECKING:
    from nornir.core.task import Result, Task

DEFAULT_MONITORING_SETTLE = 60.0
POLL_INTERVAL = 1.0


def verify_monitoring(
    task: Task,
    *,
    site: Mapping[str, Mapping[str, Any]] | None = None,
    settle: float | None = None,
) -> Result:
    """Nornir task: check, through Prometheus's API on this host, that every target is up.

    Host data used: ``stacks`` (without ``monitoring`` one skipped check), ``prometheus_url``,
    ``monitoring_targets`` (derived by `site_vars`), ``monitoring_settle_timeout``.

    Args:
        task: the Nornir task.
        site: host name -> template variables (`site_vars` on the whole inventory); default:
            `site_vars` on the task's inventory.
        settle: seconds to keep asking while a target is not up (default: the inventory's
            ``monitoring_settle_timeout``, else 60).

    Returns:
        Result with ``result`` = list of `Check` (``monitoring.target.<job>.<host>`` each,
        ``monitoring.rules``), ``failed`` when one failed, ``changed`` False.

    Raises:
        TransportError: the host cannot be reached over SSH.

    """
    from nornir.core.task import Result

    from nornir_homehub.connection import host_connection
    from nornir_homehub.inventory import site_vars

    host = task.host
    variables = (
        dict(site[host.name]) if site and host.name in site else site_vars(task.nornir, host)
    )
    stacks = [str(s) for s in variables.get("stacks") or []]
    if "monitoring" not in stacks:
        skip = Check(
            "monitoring",
            host.name,
            Layer.MONITORING,
            Status.SKIP,
            f"Prometheus is not deployed on this host (stacks: {', '.join(stacks) or 'none'})",
        )
        return Result(host=host, result=[skip], failed=False, changed=False)
    window = float(
        settle
        if settle is not None
        else variables.get("monitoring_settle_timeout") or DEFAULT_MONITORING_SETTLE
    )
    expected = expected_targets(host.name, variables)
    conn = host_connection(task)
    base = prometheus_url(variables)
    deadline = time.monotonic() + window
    view = gather_prometheus(conn, base)
    while pending(expected, view) and time.monotonic() < deadline:
        time.sleep(min(POLL_INTERVAL, max(0.0, deadline - time.monotonic())))
        view = gather_prometheus(conn, base)
    checks = evaluate_targets(host.name, expected, view)
    return Result(host=host, result=checks, failed=any(c.failed for c in checks), changed=False)
