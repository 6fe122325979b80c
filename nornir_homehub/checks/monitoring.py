"""Monitoring checks: every Prometheus target up, every alert rule loaded (pure).

`expected_targets` says from the inventory what Prometheus must scrape (the node-exporter of
every host in ``monitoring_targets``, and Prometheus itself); `evaluate_targets` judges the
`PrometheusView` the trusted host's Prometheus API gave: one check per target, named
``monitoring.target.<job>.<host>``, whose remedy names the target and its last error, and one
``monitoring.rules`` check. `pending` says whether a view is still settling (a target missing or
not scraped yet) so the task asks again within its window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nornir_homehub.checks.model import Check, Layer, Status
from nornir_homehub.facts.prometheus import PrometheusView, TargetFact

__all__ = ["ExpectedTarget", "evaluate_targets", "expected_targets", "pending"]

NODE_EXPORTER_PORT = 9100


@dataclass(frozen=True)
class ExpectedTarget:
    """A target prometheus.yml lists: job, instance (address:port), inventory host and stack.

    ``stack`` is "" for a node-exporter the host runs as a service of its own
    (``node_exporter: host``): no deploy restarts it.
    """

    job: str
    instance: str
    host: str
    stack: str

    @property
    def name(self) -> str:
        """The check name: ``monitoring.target.<job>.<host>``."""
        return f"monitoring.target.{self.job}.{self.host}"


def expected_targets(prometheus_host: str, variables: Mapping[str, Any]) -> list[ExpectedTarget]:
    """What the rendered prometheus.yml makes Prometheus scrape, from the inventory."""
    out = [ExpectedTarget("prometheus", "localhost:9090", prometheus_host, "monitoring")]
    for t in variables.get("monitoring_targets") or []:
        if t.get("service") == "host":
            stack = ""
        else:
            stack = "monitoring" if t.get("role") == "trusted" else "node-exporter"
        out.append(
            ExpectedTarget("node", f"{t['address']}:{NODE_EXPORTER_PORT}", str(t["name"]), stack)
        )
    return out


def _find(view: PrometheusView, want: ExpectedTarget) -> TargetFact | None:
    return next(
        (t for t in view.targets if t.job == want.job and t.instance == want.instance), None
    )


def pending(expected: Sequence[ExpectedTarget], view: PrometheusView) -> bool:
    """True when the view is not all up yet: worth asking again within the settle window.

    A target just (re)started shows ``down`` until Prometheus's next scrape, and one just
    configured is missing or ``unknown`` until its first: all of these are asked again.
    """
    if view.error is not None:
        return True
    for want in expected:
        found = _find(view, want)
        if found is None or found.health != "up":
            return True
    return any(t.health != "up" for t in view.targets)


def _target_check(host: str, want: ExpectedTarget, found: TargetFact | None) -> Check:
    data: dict[str, Any] = {"job": want.job, "instance": want.instance, "target_host": want.host}
    redeploy = f"python -m nornir_homehub deploy --stacks {want.stack} --filter name={want.host}"
    if found is None:
        return Check(
            want.name,
            host,
            Layer.MONITORING,
            Status.FAIL,
            f"Prometheus has no target {want.job}/{want.instance} ({want.host})",
            "prometheus.yml on this host is not the inventory's: run python -m nornir_homehub "
            f"deploy --stacks monitoring --filter name={host}",
            data,
        )
    data |= found.to_dict()
    if found.health == "up":
        return Check(
            want.name,
            host,
            Layer.MONITORING,
            Status.PASS,
            f"target {want.job}/{want.instance} ({want.host}) is up",
            data=data,
        )
    why = found.last_error or "not scraped yet"
    what = "node-exporter" if want.job == "node" else "Prometheus"
    if not want.stack:
        remedy = (
            f"{what} on {want.host} ({want.instance}) does not answer Prometheus ({why}): it "
            "runs as a host service there (node_exporter: host): start it, on Debian with "
            "`systemctl restart prometheus-node-exporter`"
        )
        return Check(
            want.name,
            host,
            Layer.MONITORING,
            Status.FAIL,
            f"target {want.job}/{want.instance} ({want.host}) is {found.health}: {why}",
            remedy,
            data,
        )
    return Check(
        want.name,
        host,
        Layer.MONITORING,
        Status.FAIL,
        f"target {want.job}/{want.instance} ({want.host}) is {found.health}: {why}",
        f"{what} on {want.host} ({want.instance}) does not answer Prometheus ({why}): check "
        f"`docker ps` on {want.host} and start it with {redeploy}",
        data,
    )


def evaluate_targets(
    host: str, expected: Sequence[ExpectedTarget], view: PrometheusView
) -> list[Check]:
    """The monitoring checks of the Prometheus on ``host``.

    One check per expected target (pass when up; fail when down, never scraped or missing, the
    remedy naming the target and its last error), one per other active target Prometheus
    lists, and ``monitoring.rules`` (every rule loaded and healthy, at least one alert rule).
    When the API could not be read: one failed ``monitoring.prometheus`` check.
    """
    if view.error is not None:
        return [
            Check(
                "monitoring.prometheus",
                host,
                Layer.MONITORING,
                Status.FAIL,
                f"Prometheus's API on {host} cannot be read: {view.error}",
                f"check the prometheus container on {host} (`docker logs prometheus`) and the "
                "inventory's prometheus_url; redeploy with python -m nornir_homehub deploy "
                f"--stacks monitoring --filter name={host}",
            )
        ]
    checks = [_target_check(host, want, _find(view, want)) for want in expected]
    known = {(w.job, w.instance) for w in expected}
    for t in view.targets:
        if (t.job, t.instance) in known:
            continue
        other = ExpectedTarget(t.job, t.instance, t.host or t.instance, "monitoring")
        checks.append(_target_check(host, other, t))
    checks.append(_rules_check(host, view))
    return checks


def _rules_check(host: str, view: PrometheusView) -> Check:
    alerts = [r for r in view.rules if r.type == "alerting"]
    bad = [r for r in view.rules if r.health not in ("ok", "unknown")]
    data = {"rules": [r.to_dict() for r in view.rules]}
    if bad:
        first = bad[0]
        return Check(
            "monitoring.rules",
            host,
            Layer.MONITORING,
            Status.FAIL,
            f"{len(bad)} rule(s) fail to evaluate, first {first.group}/{first.name}: "
            f"{first.last_error or first.health}",
            f"fix the rule in stacks/monitoring/alerts.yml.j2 (check it with `promtool check "
            f"rules`) and redeploy with python -m nornir_homehub deploy --stacks monitoring "
            f"--filter name={host}",
            data,
        )
    if not alerts:
        return Check(
            "monitoring.rules",
            host,
            Layer.MONITORING,
            Status.FAIL,
            "Prometheus has no alert rule loaded",
            f"alerts.yml is not loaded: check `docker logs prometheus` on {host} and redeploy "
            f"with python -m nornir_homehub deploy --stacks monitoring --filter name={host}",
            data,
        )
    return Check(
        "monitoring.rules",
        host,
        Layer.MONITORING,
        Status.PASS,
        f"{len(alerts)} alert rule(s) loaded: {', '.join(sorted({r.name for r in alerts}))}",
        data=data,
    )
