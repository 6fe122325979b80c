"""Issue 18 (monitoring) against the lab: Prometheus and node-exporter, the real Debian binaries.

The module starts from a full ``deploy`` (exit 0) whose verify must hold passing
``monitoring.target.*`` checks. Then, through Prometheus's own HTTP API on the trusted host:
every target up, the alert rules loaded; ``run gpu_metrics`` writes the compute host's textfile
and Prometheus serves "no GPU" from it; and a fault: the compute host's node_exporter process
stopped for real (SIGSTOP to its PID, a hung exporter: Docker still calls it running), verify
names that target down with exit 1, and with the fault removed the next deploy converges
(exit 0, its verify passing) and the one after is a no-op.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import run_cli, wait_for

API = "http://127.0.0.1:9090/api/v1"
INSTANCES = {"192.0.2.131:9100", "192.0.2.132:9100", "192.0.2.133:9100", "localhost:9090"}


def api(lab: Any, path: str) -> Any:
    """GET Prometheus's API on the trusted host (published on its loopback only)."""
    res = lab.host_exec("trusted", f"curl -sf '{API}/{path}'")
    assert res.returncode == 0, res.stdout + res.stderr
    doc = json.loads(res.stdout)
    assert doc["status"] == "success", doc
    return doc["data"]


def targets(lab: Any) -> dict[str, dict[str, Any]]:
    return {t["labels"]["instance"]: t for t in api(lab, "targets?state=active")["activeTargets"]}


def monitoring_checks(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["checks"] if c["layer"] == "monitoring"}


@pytest.fixture(scope="module")
def deployed(lab: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A full deploy (DNS, compute, trusted, verify) that must succeed, monitoring included."""
    report = tmp_path_factory.mktemp("monitoring") / "deploy.json"
    res = run_cli("deploy", "--report", str(report))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    doc = json.loads(report.read_text())
    checks = monitoring_checks(doc)
    assert {n: c["status"] for n, c in checks.items()} == {
        "monitoring.target.prometheus.trusted": "pass",
        "monitoring.target.node.trusted": "pass",
        "monitoring.target.node.compute": "pass",
        "monitoring.target.node.dns": "pass",
        "monitoring.rules": "pass",
    }
    return lab


def test_every_target_is_up_through_the_api(deployed: Any) -> None:
    lab = deployed
    found = targets(lab)
    assert set(found) == INSTANCES
    assert {i: t["health"] for i, t in found.items()} == dict.fromkeys(INSTANCES, "up")
    assert found["192.0.2.132:9100"]["labels"]["host"] == "compute"
    # the dns host (no Docker) runs node-exporter as a host process: `lab up` started it
    assert found["192.0.2.133:9100"]["labels"]["role"] == "dns"
    # the real binaries, not stand-ins: the build info they export
    query = api(lab, "query?query=prometheus_build_info")["result"]
    assert query and query[0]["metric"]["version"].startswith("2.42")
    nodes = api(lab, "query?query=node_exporter_build_info")["result"]
    assert {r["metric"]["host"] for r in nodes} == {"trusted", "compute", "dns"}
    assert all(r["metric"]["version"].startswith("1.5") for r in nodes)


def test_the_alert_rules_are_loaded(deployed: Any) -> None:
    groups = api(deployed, "rules")["groups"]
    rules = {r["name"]: r for g in groups for r in g["rules"]}
    assert set(rules) == {
        "HostDown",
        "DiskAlmostFull",
        "GpuTemperatureHigh",
        "GpuMemoryHigh",
        "GpuMissing",
        "OllamaModelOnCpu",
        "GpuMetricsStale",
    }
    assert all(r["type"] == "alerting" and r["health"] in ("ok", "unknown") for r in rules.values())


def test_gpu_metrics_say_no_gpu_in_the_lab(deployed: Any) -> None:
    lab = deployed
    res = run_cli("run", "gpu_metrics")
    assert res.returncode == 0, res.stdout + res.stderr
    text = lab.host_exec("compute", "cat /srv/docker/node-exporter/textfile/homehub_gpu.prom")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert "homehub_gpus 0" in lines and "homehub_gpu_expected 0" in lines
    assert "homehub_ollama_up 1" in lines

    def served() -> bool:
        result = api(lab, "query?query=homehub_gpus")["result"]
        return [(r["metric"]["host"], r["value"][1]) for r in result] == [("compute", "0")]

    wait_for("Prometheus to scrape homehub_gpus from compute", served, limit=60, every=1)


def _node_exporter_pid(lab: Any) -> int:
    """The PID of node_exporter on compute: the container's main process, or its child when
    the main process is Docker's init (``init: true``)."""
    res = lab.host_exec(
        "compute",
        "p=$(docker inspect -f '{{.State.Pid}}' node-exporter) && echo $p $(cat /proc/$p/comm) && "
        "for d in /proc/[0-9]*; do "
        '[ "$(cut -d" " -f4 $d/stat 2>/dev/null)" = "$p" ] && echo ${d#/proc/} $(cat $d/comm); '
        "done; true",
    )
    assert res.returncode == 0, res.stdout + res.stderr
    found = [line.split() for line in res.stdout.splitlines() if len(line.split()) == 2]
    pids = [int(pid) for pid, comm in found if comm == "node_exporter"]
    assert len(pids) == 1, res.stdout
    return pids[0]


@pytest.mark.fault
def test_a_stopped_node_exporter_is_named_down_and_the_next_deploy_converges(
    deployed: Any, lab_copy: Path, tmp_path: Path
) -> None:
    lab = deployed
    defaults = lab_copy.parent / "defaults.yaml"
    doc = yaml.safe_load(defaults.read_text())
    doc["data"]["monitoring_settle_timeout"] = 5  # a failing verify waits this long, no more
    defaults.write_text(yaml.safe_dump(doc, sort_keys=False))
    pid = _node_exporter_pid(lab)
    try:
        assert lab.host_exec("compute", f"kill -STOP {pid}").returncode == 0
        wait_for(
            "Prometheus to see compute's node-exporter down",
            lambda: targets(lab)["192.0.2.132:9100"]["health"] == "down",
            limit=60,
            every=1,
        )
        res = run_cli("verify", "--json", config=lab_copy)
        assert res.returncode == 1, res.stdout[-2000:] + res.stderr[-2000:]
        checks = monitoring_checks(json.loads(res.stdout))
        failed = {n for n, c in checks.items() if c["status"] == "fail"}
        assert failed == {"monitoring.target.node.compute"}, checks
        down = checks["monitoring.target.node.compute"]
        assert down["evidence"].startswith("target node/192.0.2.132:9100 (compute) is down: ")
        assert "context deadline exceeded" in down["evidence"]
        assert down["remedy"].startswith("node-exporter on compute (192.0.2.132:9100)")
        assert "deploy --stacks node-exporter --filter name=compute" in down["remedy"]
        assert checks["monitoring.target.node.trusted"]["status"] == "pass"
        assert checks["monitoring.target.node.dns"]["status"] == "pass"
    finally:
        lab.host_exec("compute", f"kill -CONT {pid}")
    report = tmp_path / "converge.json"
    res = run_cli("deploy", "--report", str(report))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    converged = json.loads(report.read_text())
    assert monitoring_checks(converged)["monitoring.target.node.compute"]["status"] == "pass"
    again = tmp_path / "noop.json"
    res = run_cli("deploy", "--report", str(again))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    summary = json.loads(again.read_text())["summary"]
    assert (summary["hosts_changed"], summary["tasks_changed"]) == (0, 0), summary
