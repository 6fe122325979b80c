"""`verify_monitoring` through the scripted double: Prometheus's API answers, checks out.

The trusted host is a `ScriptedHost` answering ``/api/v1/targets`` and ``/api/v1/rules`` the way
the real prometheus 2.42 does (bodies shaped like tests/unit/cases/parsers/parse_targets and
parse_rules, captured from it): every target up; a node-exporter refused; Prometheus still
discovering its targets (asked again within the window); the API not answering.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import yaml

from nornir_homehub.checks.model import Layer, Status
from nornir_homehub.facts.http import http_command
from nornir_homehub.tasks.monitoring import verify_monitoring
from nornir_homehub.testing import Command, ScriptedHost, scripted_nornir

CASES = Path(__file__).parent / "cases" / "parsers"
TARGETS = "http://127.0.0.1:9090/api/v1/targets?state=active"
RULES = "http://127.0.0.1:9090/api/v1/rules"
REFUSED = (
    'Get "http://192.0.2.132:9100/metrics": dial tcp 192.0.2.132:9100: connect: connection refused'
)


def http_answer(status: int, body: str) -> str:
    """What the request script prints for a curl answer (marker line + three base64 lines)."""
    head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\r\n"
    parts = [base64.b64encode(p.encode()).decode() for p in (head, body, "")]
    return "\n".join([f"homehub-http curl 0 {status}", *parts]) + "\n"


def target(job: str, instance: str, host: str, health: str, error: str = "") -> dict[str, Any]:
    return {
        "labels": {"host": host, "instance": instance, "job": job},
        "scrapePool": job,
        "scrapeUrl": f"http://{instance}/metrics",
        "lastError": error,
        "lastScrape": "2026-12-01T13:32:54.789854642Z",
        "health": health,
    }


def targets_body(*targets: dict[str, Any]) -> str:
    return json.dumps({"status": "success", "data": {"activeTargets": list(targets)}})


def rules_body() -> str:
    case = yaml.safe_load((CASES / "parse_rules" / "01-homehub-alerts-loaded.yaml").read_text())
    return str(case["input"]["text"])


ALL_UP = (
    target("prometheus", "localhost:9090", "trusted", "up"),
    target("node", "192.0.2.131:9100", "trusted", "up"),
    target("node", "192.0.2.132:9100", "compute", "up"),
)


def run(
    script: list[Command], settle: float = 0, dns: dict[str, Any] | None = None
) -> tuple[bool, dict[str, Any], ScriptedHost]:
    host = ScriptedHost("trusted", script)
    common = {"prometheus_url": "http://127.0.0.1:9090"}
    nr = scripted_nornir(
        {
            "trusted": (
                {"role": "trusted", "hostname": "192.0.2.131", "stacks": ["monitoring"], **common},
                host,
            ),
            "compute": (
                {"role": "compute", "hostname": "192.0.2.132", "stacks": ["node-exporter"]},
                ScriptedHost("compute"),
            ),
            "dns": (
                {"role": "dns", "hostname": "192.0.2.133", "stacks": [], **(dns or {})},
                ScriptedHost("dns"),
            ),
        }
    )
    agg = nr.filter(name="trusted").run(task=verify_monitoring, settle=settle)
    return agg.failed, {c.name: c for c in agg["trusted"][0].result}, host


def api(targets: str, *, times: int | None = None) -> list[Command]:
    return [
        Command(http_command(TARGETS), out=http_answer(200, targets), times=times),
        Command(http_command(RULES), out=http_answer(200, rules_body()), times=times),
    ]


def test_every_target_up_and_the_alert_rules_loaded_pass() -> None:
    failed, checks, host = run(api(targets_body(*ALL_UP)))
    assert not failed
    assert sorted(checks) == [
        "monitoring.rules",
        "monitoring.target.node.compute",
        "monitoring.target.node.trusted",
        "monitoring.target.prometheus.trusted",
    ]
    assert all(c.status is Status.PASS and c.layer is Layer.MONITORING for c in checks.values())
    assert checks["monitoring.rules"].evidence.startswith("7 alert rule(s) loaded: ")
    assert host.commands_run == 1  # one round trip: targets and rules together


def test_a_refused_node_exporter_fails_naming_the_target_and_its_last_error() -> None:
    down = (*ALL_UP[:2], target("node", "192.0.2.132:9100", "compute", "down", REFUSED))
    failed, checks, _ = run(api(targets_body(*down)))
    assert failed
    check = checks["monitoring.target.node.compute"]
    assert check.status is Status.FAIL
    assert check.evidence == f"target node/192.0.2.132:9100 (compute) is down: {REFUSED}"
    assert check.remedy.startswith("node-exporter on compute (192.0.2.132:9100) does not answer")
    assert REFUSED in check.remedy
    assert "deploy --stacks node-exporter --filter name=compute" in check.remedy
    assert checks["monitoring.target.node.trusted"].status is Status.PASS


def test_targets_still_being_discovered_are_asked_again_within_the_window() -> None:
    script = [*api(targets_body(), times=1), *api(targets_body(*ALL_UP))]
    failed, checks, host = run(script, settle=30)
    assert not failed, {n: c.evidence for n, c in checks.items()}
    assert host.commands_run == 2


def test_a_target_prometheus_does_not_list_fails_with_the_redeploy_of_its_config() -> None:
    failed, checks, _ = run(api(targets_body(*ALL_UP[:2])))
    assert failed
    check = checks["monitoring.target.node.compute"]
    assert check.evidence == "Prometheus has no target node/192.0.2.132:9100 (compute)"
    assert "deploy --stacks monitoring --filter name=trusted" in check.remedy


def test_an_api_that_does_not_answer_is_one_failed_check() -> None:
    script = [
        Command(http_command(TARGETS), err="curl: (7) Failed to connect\n", exit=7),
        Command(http_command(RULES), err="curl: (7) Failed to connect\n", exit=7),
    ]
    failed, checks, _ = run(script)
    assert failed
    assert list(checks) == ["monitoring.prometheus"]
    assert "Failed to connect" in checks["monitoring.prometheus"].evidence
    assert "docker logs prometheus" in checks["monitoring.prometheus"].remedy


def test_a_host_without_prometheus_is_skipped_without_contacting_it() -> None:
    host = ScriptedHost("compute")
    nr = scripted_nornir(
        {"compute": ({"role": "compute", "stacks": ["ollama", "node-exporter"]}, host)}
    )
    agg = nr.run(task=verify_monitoring)
    (check,) = agg["compute"][0].result
    assert check.status is Status.SKIP and host.commands_run == 0


def test_a_host_service_node_exporter_is_scraped_and_its_remedy_is_the_service() -> None:
    # the dns host has no Docker: `node_exporter: host` (Debian's package service) is scraped
    dns_down = target("node", "192.0.2.133:9100", "dns", "down", REFUSED.replace("132", "133"))
    failed, checks, _ = run(api(targets_body(*ALL_UP, dns_down)), dns={"node_exporter": "host"})
    assert failed
    check = checks["monitoring.target.node.dns"]
    assert check.evidence.startswith("target node/192.0.2.133:9100 (dns) is down: ")
    assert "systemctl restart prometheus-node-exporter" in check.remedy
    assert "deploy --stacks" not in check.remedy
    # without the key the dns host is not a target at all
    failed, checks, _ = run(api(targets_body(*ALL_UP)))
    assert not failed and "monitoring.target.node.dns" not in checks
