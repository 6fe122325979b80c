"""`check ollama` and `check gpu` against the lab: the compute host runs the Ollama STAND-IN
(nornir_homehub/lab/images), reached on 127.0.0.1:11434 over the host's SSH connection; the
lab inventory says no host has a GPU."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import run_cli

MODEL = "qwen2.5-coder:14b"


@pytest.fixture(scope="module")
def ollama_running(lab: Any) -> None:
    """The ollama stack is up on the compute host (deployed here when it is not)."""
    probe = run_cli("exec", "--filter", "role=compute", "--", "docker ps --format '{{.Names}}'")
    if "ollama" not in probe.stdout.split():
        res = run_cli("deploy", "--filter", "role=compute", "--no-verify")
        assert res.returncode == 0, res.stdout + res.stderr


def test_check_ollama_on_lab(ollama_running: None) -> None:
    res = run_cli("check", "ollama", "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    doc = json.loads(res.stdout)
    by = {(c["host"], c["name"]): c for c in doc["checks"]}
    assert by[("compute", "ollama.api")]["status"] == "pass"
    assert by[("compute", f"ollama.model.{MODEL}.installed")]["status"] == "pass"
    loaded = by[("compute", f"ollama.model.{MODEL}.loaded")]
    # The lab's compute host has gpu: null, so a CPU-loaded model is what is expected.
    assert loaded["status"] == "pass"
    assert "loaded on the CPU, as expected" in loaded["evidence"]
    assert loaded["data"]["placement"] == "cpu"
    assert by[("trusted", "ollama")]["status"] == "skip"
    assert by[("dns", "ollama")]["status"] == "skip"


def test_check_ollama_missing_model_fails_with_remedy(ollama_running: None, lab_copy: Path) -> None:
    defaults = yaml.safe_load((lab_copy.parent / "defaults.yaml").read_text())
    defaults["data"]["ollama_models"] = [MODEL, "llama3:8b"]
    (lab_copy.parent / "defaults.yaml").write_text(yaml.safe_dump(defaults, sort_keys=False))

    res = run_cli("check", "ollama", "--filter", "role=compute", config=lab_copy)
    assert res.returncode == 1, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert any(
        line.startswith("FAIL compute ollama.model.llama3:8b.installed: llama3:8b is not installed")
        for line in lines
    ), lines
    assert (
        "     remedy: Pull the model manually: `docker exec ollama ollama pull llama3:8b`" in lines
    )


def test_check_gpu_on_lab_skips_every_host(lab: Any) -> None:
    res = run_cli("check", "gpu")
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.splitlines() == [
        f"SKIP {h} gpu: no GPU in the inventory (gpu: null)" for h in ("compute", "dns", "trusted")
    ]


def test_check_gpu_on_lab_host_declared_with_gpu_fails(lab: Any, lab_copy: Path) -> None:
    hosts = yaml.safe_load((lab_copy.parent / "hosts.yaml").read_text())
    hosts["compute"]["data"]["gpu"] = {"vendor": "nvidia", "model": "NVIDIA GeForce RTX 5060 Ti"}
    (lab_copy.parent / "hosts.yaml").write_text(yaml.safe_dump(hosts, sort_keys=False))

    res = run_cli("check", "gpu", "--filter", "name=compute", "--json", config=lab_copy)
    assert res.returncode == 1, res.stdout + res.stderr
    [check] = json.loads(res.stdout)["checks"]
    assert (check["host"], check["name"], check["status"]) == ("compute", "gpu.driver", "fail")
    assert "nvidia-smi not found" in check["evidence"]
    assert "install the NVIDIA driver" in check["remedy"]
