"""The README's main command, exactly as the README writes it, on a lab created fresh for it.

Issue 10: the README's command failed on a fresh machine (Traefik had not yet routed the
just-healthy containers when verify asked) while the suite passed, because earlier test modules
had warmed the lab. So this module runs FIRST among the lab tests (its name sorts first), brings
the session's lab down (not ``--purge``: the image cache stays) and runs the command read from
the README's first ```bash block, with ``python3`` resolving to the interpreter running the
tests. Its own ``lab up`` brings the lab back; it must exit 0 on this first try.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from conftest import ROOT, run_captured

from nornir_homehub.report import validate_report

REPORT = ROOT / ".homehub" / "reports" / "lab.json"


def readme_main_command() -> str:
    """The first command line of the README's first ```bash block."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"^```bash\n(.*?)^```", text, re.S | re.M)
    assert block, "README.md has no ```bash block"
    lines = [ln for ln in block.group(1).splitlines() if ln.strip() and not ln.startswith("#")]
    return lines[0]


def test_readme_main_command_on_a_fresh_lab(lab: Any) -> None:
    command = readme_main_command()
    assert command.split()[:2] == ["bash", "scripts/lab-deploy.sh"], command
    lab.down()  # a fresh lab: new hosts, no stacks; images stay cached (not --purge)
    assert not lab.status().up
    REPORT.unlink(missing_ok=True)
    started = time.time()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    res = run_captured(["bash", "-c", command], env=env, timeout=1800)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    assert lab.status().up
    data: dict[str, Any] = json.loads(REPORT.read_text())
    validate_report(data)
    assert REPORT.stat().st_mtime >= started
    assert data["command"] == "deploy" and data["ok"] is True and data["incomplete"] is False
    names = [s["name"] for s in data["stages"]]
    assert names[:4] == ["dns", "compute stacks", "compute models", "trusted stacks"], names
    assert "verify stacks" in names and all(s["ok"] for s in data["stages"]), data["stages"]
    assert set(data["hosts"]) == {"trusted", "compute", "dns"}
    # A fresh lab: every stack was deployed by this run.
    changed = {h for h, v in data["hosts"].items() if any(t["changed"] for t in v["tasks"])}
    assert {"trusted", "compute"} <= changed
    checks = {(c["host"], c["name"]): c for c in data["checks"]}
    assert data["summary"]["checks_fail"] == 0, [
        c for c in checks.values() if c["status"] == "fail"
    ]
    for name in ("auth.chat", "auth.openai", "auth.outpost", "container.litellm"):
        assert checks[("trusted", name)]["status"] == "pass", checks[("trusted", name)]
    # Monitoring is part of the main job: Prometheus's every target up, through its API.
    assert "verify monitoring" in names, names
    for target in ("prometheus.trusted", "node.trusted", "node.compute", "node.dns"):
        check = checks[("trusted", f"monitoring.target.{target}")]
        assert check["status"] == "pass", check
    assert checks[("trusted", "monitoring.rules")]["status"] == "pass"
    assert {"container.prometheus", "container.node-exporter"} <= {
        name for host, name in checks if host == "trusted"
    }
    # The wait for Traefik is its own timed step of the trusted stage, and it converged.
    edge = [t for t in data["hosts"]["trusted"]["tasks"] if t["name"] == "edge convergence"]
    assert len(edge) == 1 and edge[0]["failed"] is False, edge
    assert edge[0]["stage"] == "trusted stacks" and edge[0]["duration_s"] is not None
    assert {r["fqdn"] for r in edge[0]["result"]} == {"chat.homehub.test", "openai.homehub.test"}
    assert {r["cause"] for r in edge[0]["result"]} == {"served"}
