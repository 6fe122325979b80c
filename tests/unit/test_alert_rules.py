"""The monitoring stack's Prometheus files, checked by the real promtool (Debian's prometheus).

The rendered ``alerts.yml`` of the lab and the production inventory passes ``promtool check
rules``; the lab's passes the ``promtool test rules`` scenarios in
``tests/unit/cases/alerts/alerts.test.yml`` (a host down, a hot GPU, full VRAM, a model on the
CPU of a GPU host but not of the lab's, a missing GPU, a full disk, stale GPU metrics); the
rendered ``prometheus.yml`` (with the alerts beside it) passes ``promtool check config``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from nornir_homehub.config import load_nornir
from nornir_homehub.render import masked_secrets, render_host, secret_names, stacks_for_host

ROOT = Path(__file__).parents[2]
CONFIGS = {"lab": ROOT / "inventory" / "lab" / "config.yaml", "production": ROOT / "config.yaml"}
CASES = Path(__file__).parent / "cases" / "alerts"
PROMTOOL = shutil.which("promtool")

pytestmark = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool (Debian package prometheus) not installed"
)


def _monitoring_files(config: Path) -> dict[str, bytes]:
    """The rendered files of stack monitoring on the config's trusted host (path -> bytes)."""
    from nornir_homehub.inventory import site_vars

    nr = load_nornir(config)
    host = next(h for h in nr.inventory.hosts.values() if h.get("role") == "trusted")
    names = secret_names(stacks_for_host(site_vars(nr, host), ROOT / "stacks", ["monitoring"]))
    (rs,) = render_host(nr, host, ROOT / "stacks", masked_secrets(names), ["monitoring"])
    return {Path(p).name: f.content for p, f in rs.files.items()}


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("site", sorted(CONFIGS))
def test_rendered_alert_rules_pass_promtool_check_rules(site: str, tmp_path: Path) -> None:
    files = _monitoring_files(CONFIGS[site])
    (tmp_path / "alerts.yml").write_bytes(files["alerts.yml"])
    proc = _promtool("check", "rules", "alerts.yml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 7 rules found" in proc.stdout
    names = [r["alert"] for g in yaml.safe_load(files["alerts.yml"])["groups"] for r in g["rules"]]
    assert names == [
        "HostDown",
        "DiskAlmostFull",
        "GpuTemperatureHigh",
        "GpuMemoryHigh",
        "GpuMissing",
        "OllamaModelOnCpu",
        "GpuMetricsStale",
    ]


def test_alert_rules_fire_as_the_scenarios_say(tmp_path: Path) -> None:
    (tmp_path / "alerts.yml").write_bytes(_monitoring_files(CONFIGS["lab"])["alerts.yml"])
    shutil.copy(CASES / "alerts.test.yml", tmp_path / "alerts.test.yml")
    proc = _promtool("test", "rules", "alerts.test.yml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_a_broken_rule_fails_promtool(tmp_path: Path) -> None:
    # the check above can fail: a rule whose expression does not parse is refused
    text = _monitoring_files(CONFIGS["lab"])["alerts.yml"].replace(b"== 0", b"== == 0", 1)
    (tmp_path / "alerts.yml").write_bytes(text)
    proc = _promtool("check", "rules", "alerts.yml", cwd=tmp_path)
    assert proc.returncode != 0


@pytest.mark.parametrize("site", sorted(CONFIGS))
def test_rendered_prometheus_config_passes_promtool_check_config(site: str, tmp_path: Path) -> None:
    files = _monitoring_files(CONFIGS[site])
    (tmp_path / "alerts.yml").write_bytes(files["alerts.yml"])
    config = yaml.safe_load(files["prometheus.yml"])
    config["rule_files"] = [str(tmp_path / "alerts.yml")]  # the container's path, here
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    proc = _promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    node = next(j for j in config["scrape_configs"] if j["job_name"] == "node")
    hosts = {c["labels"]["host"]: c["targets"] for c in node["static_configs"]}
    if site == "lab":
        assert hosts == {
            "trusted": ["192.0.2.131:9100"],
            "compute": ["192.0.2.132:9100"],
            "dns": ["192.0.2.133:9100"],  # node_exporter: host (no Docker there)
        }
    else:
        assert len(hosts) == 2 and all(len(t) == 1 for t in hosts.values())
