"""Prometheus's own view as facts: its scrape targets and its rules, read from its HTTP API.

The API (inventory ``prometheus_url``, default ``http://127.0.0.1:9090``: the monitoring stack
publishes it on the trusted host's loopback) is asked from the trusted host itself, like
Traefik's. `prometheus_commands` builds the requests (for `HostConnection.run_batch`),
`parse_targets`/`parse_rules` read the bodies of ``/api/v1/targets`` and ``/api/v1/rules``;
`parse_prometheus` turns the batch's results into a `PrometheusView`. Everything but
`gather_prometheus` is pure.

The verdict on what was seen is `checks.monitoring.evaluate_targets`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from nornir_homehub.errors import HomehubError
from nornir_homehub.facts.http import http_command, parse_response
from nornir_homehub.secrets import redact_head

if TYPE_CHECKING:
    from nornir_homehub.connection import HostConnection

__all__ = [
    "DEFAULT_PROMETHEUS_URL",
    "PrometheusView",
    "RuleFact",
    "TargetFact",
    "gather_prometheus",
    "parse_prometheus",
    "parse_rules",
    "parse_targets",
    "prometheus_commands",
    "prometheus_url",
]

DEFAULT_PROMETHEUS_URL = "http://127.0.0.1:9090"


@dataclass(frozen=True)
class TargetFact:
    """One active scrape target as ``/api/v1/targets`` lists it.

    Attributes:
        job: the scrape job (``node``, ``prometheus``).
        instance: the target's ``instance`` label (``192.0.2.132:9100``).
        host: its ``host`` label (the inventory name our prometheus.yml sets; "" without).
        health: ``up``, ``down`` or ``unknown`` (not scraped yet).
        last_error: why the last scrape failed ("" when it did not).
        last_scrape: time of the last scrape (RFC 3339; the zero time when never).
        scrape_url: what Prometheus asks.
    """

    job: str
    instance: str
    host: str
    health: str
    last_error: str = ""
    last_scrape: str = ""
    scrape_url: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class RuleFact:
    """One rule as ``/api/v1/rules`` lists it (group, name, type, health, last error)."""

    group: str
    name: str
    type: str
    health: str
    last_error: str = ""
    state: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class PrometheusView:
    """What Prometheus's API answered: targets, rules, or why it could not be read."""

    targets: tuple[TargetFact, ...] = ()
    rules: tuple[RuleFact, ...] = ()
    error: str | None = None


def prometheus_url(variables: Mapping[str, Any]) -> str:
    """Prometheus's API base URL as seen from the trusted host (inventory ``prometheus_url``)."""
    return str(variables.get("prometheus_url") or DEFAULT_PROMETHEUS_URL).rstrip("/")


def prometheus_commands(base: str, timeout: float = 5) -> dict[str, str]:
    """Shell commands reading the active targets and the rules (for `run_batch`)."""
    return {
        "prometheus:targets": http_command(f"{base}/api/v1/targets?state=active", timeout=timeout),
        "prometheus:rules": http_command(f"{base}/api/v1/rules", timeout=timeout),
    }


def _data(body: str, endpoint: str) -> Mapping[str, Any]:
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise HomehubError(f"{endpoint}: not JSON ({exc})") from None
    if not isinstance(doc, Mapping) or doc.get("status") != "success":
        error = doc.get("error") if isinstance(doc, Mapping) else None
        raise HomehubError(f"{endpoint}: status is not success ({error or 'no error given'})")
    data = doc.get("data")
    if not isinstance(data, Mapping):
        raise HomehubError(f"{endpoint}: no data object")
    return data


def parse_targets(body: str) -> list[TargetFact]:
    """Parse the body of ``/api/v1/targets``: its active targets, in the order given.

    Raises:
        HomehubError: the body is not Prometheus's success document.
    """
    data = _data(body, "/api/v1/targets")
    out = []
    for item in data.get("activeTargets") or []:
        if not isinstance(item, Mapping):
            continue
        raw = item.get("labels")
        labels: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        out.append(
            TargetFact(
                job=str(labels.get("job") or item.get("scrapePool") or ""),
                instance=str(labels.get("instance") or ""),
                host=str(labels.get("host") or ""),
                health=str(item.get("health") or "unknown"),
                last_error=redact_head(str(item.get("lastError") or ""), 300),
                last_scrape=str(item.get("lastScrape") or ""),
                scrape_url=str(item.get("scrapeUrl") or ""),
            )
        )
    return out


def parse_rules(body: str) -> list[RuleFact]:
    """Parse the body of ``/api/v1/rules``: every rule of every group.

    Raises:
        HomehubError: the body is not Prometheus's success document.
    """
    data = _data(body, "/api/v1/rules")
    out = []
    for group in data.get("groups") or []:
        if not isinstance(group, Mapping):
            continue
        for rule in group.get("rules") or []:
            if not isinstance(rule, Mapping):
                continue
            out.append(
                RuleFact(
                    group=str(group.get("name") or ""),
                    name=str(rule.get("name") or ""),
                    type=str(rule.get("type") or ""),
                    health=str(rule.get("health") or "unknown"),
                    last_error=redact_head(str(rule.get("lastError") or ""), 300),
                    state=str(rule.get("state") or ""),
                )
            )
    return out


def parse_prometheus(results: Mapping[str, Any]) -> PrometheusView:
    """Turn the results of `prometheus_commands` into a `PrometheusView`."""
    parsed: dict[str, Any] = {}
    for what, parse in (("targets", parse_targets), ("rules", parse_rules)):
        res = results.get(f"prometheus:{what}")
        if res is None:
            return PrometheusView(error=f"no answer for /api/v1/{what}")
        if res.exit_code != 0:
            lines = (res.stderr or res.stdout or "").strip().splitlines()
            return PrometheusView(
                error=f"/api/v1/{what}: {redact_head(lines[-1], 200) if lines else 'no answer'}"
            )
        try:
            response = parse_response(res.stdout, where="prometheus api")
            if response.status != 200:
                return PrometheusView(error=f"/api/v1/{what} answered {response.status}")
            parsed[what] = tuple(parse(response.body.decode("utf-8", "replace")))
        except HomehubError as exc:
            return PrometheusView(error=redact_head(str(exc), 200))
    return PrometheusView(parsed["targets"], parsed["rules"])


def gather_prometheus(conn: HostConnection, base: str, timeout: float = 5) -> PrometheusView:
    """Ask Prometheus's API on the host for targets and rules in one round trip.

    Raises:
        TransportError: the batch could not run.
    """
    return parse_prometheus(conn.run_batch(prometheus_commands(base, timeout), timeout=timeout * 3))
