"""Issue 16 against the lab: ``status``, ``logs`` and ``drift`` after a full deploy.

The module starts from a full ``deploy`` (exit 0). The test that edits a file by hand puts
it back with ``deploy --stacks qdrant`` in a ``finally`` (other sessions share the lab), and
shows that ``drift`` is clean again afterwards.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from conftest import run_cli

QDRANT_COMPOSE = "/opt/stacks/qdrant/compose.yaml"
STACKS = {"litellm", "openwebui", "monitoring", "ollama", "qdrant", "node-exporter"}


def cli(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    """Run the CLI; it must exit ``code`` (the output's tails shown when not)."""
    res = run_cli(*args)
    assert res.returncode == code, res.stdout[-3000:] + res.stderr[-3000:]
    return res


@pytest.fixture(scope="module")
def deployed(lab: Any) -> Any:
    """A full deploy (DNS, compute, trusted, verify) that must succeed; returns the lab."""
    cli("deploy")
    return lab


def test_status_json_lists_the_six_stacks_with_health_and_image(deployed: Any) -> None:
    doc = json.loads(cli("status", "--json").stdout)
    assert doc["format"] == 1 and doc["errors"] == {}
    by_stack = {s["stack"]: s for s in doc["stacks"]}
    assert set(by_stack) == STACKS
    for name, stack in by_stack.items():
        assert stack["containers"], name
        for c in stack["containers"]:
            assert c["state"] == "running", (name, c)
            assert c["health"] in ("healthy", "none"), (name, c)
            # the lab registry's stand-ins, or its images of the real Prometheus and node-exporter
            lab_images = ("homehub-lab/prometheus:", "homehub-lab/node-exporter:")
            assert "/homehub-standin/" in c["image"] or c["image"].startswith(lab_images), (
                name,
                c,
            )
            assert c["image_id"].startswith("sha256:"), (name, c)
            assert c["uptime_s"] is not None, (name, c)
        assert stack["release"] is not None and stack["release"]["current"], name
        assert stack["drifted"] is False, stack["drift"]
    assert {s["host"] for s in doc["stacks"]} == {"trusted", "compute"}


def test_logs_qdrant_tail_5_prints_prefixed_lines(deployed: Any) -> None:
    res = cli("logs", "qdrant", "--tail", "5")
    lines = res.stdout.splitlines()
    assert 0 < len(lines) <= 5, res.stdout
    assert all(line.startswith("compute qdrant | ") for line in lines), res.stdout


def test_drift_is_clean_after_a_deploy_and_names_a_hand_edited_file(deployed: Any) -> None:
    lab = deployed
    assert "no drift" in cli("drift").stderr
    try:
        edit = lab.host_exec("compute", f"echo '# edited by hand' >> {QDRANT_COMPOSE}")
        assert edit.returncode == 0, edit.stderr
        doc = json.loads(cli("drift", "--json", code=1).stdout)
        drifted = [(d["host"], d["kind"], d["name"]) for d in doc["items"]]
        assert drifted == [("compute", "file", QDRANT_COMPOSE)], doc["items"]
        assert "deploy --stacks qdrant" in doc["items"][0]["remedy"]
        assert QDRANT_COMPOSE in cli("drift", code=1).stdout
    finally:
        cli("deploy", "--stacks", "qdrant")
    assert "no drift" in cli("drift").stderr
