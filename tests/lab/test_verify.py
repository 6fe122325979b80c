"""Issue 5 against the lab: ``verify`` after a full deploy, and the failures it must explain.

The module starts from a full ``deploy`` (exit 0). Each test that breaks something restores
it in a ``finally`` (other sessions share the lab).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli

WRONG_KEY = "homehub-wrong-qdrant-key-5f1c"


def verify(*args: str, **kw: Any) -> tuple[int, dict[str, Any], str]:
    """Run ``verify --json``; return exit code, report, stderr."""
    res = run_cli("verify", "--json", *args, **kw)
    assert res.stdout.strip(), res.stderr
    return res.returncode, json.loads(res.stdout), res.stdout + res.stderr


def by_status(report: dict[str, Any], status: str) -> set[tuple[str, str]]:
    return {(c["host"], c["name"]) for c in report["checks"] if c["status"] == status}


def wait_qdrant(lab: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        res = lab.host_exec(
            "compute",
            "[ \"$(docker inspect -f '{{.State.Status}}' qdrant)\" = running ] && "
            "curl -sf -o /dev/null http://127.0.0.1:6333/healthz",
        )
        if res.returncode == 0:
            return
        time.sleep(0.5)
    pytest.fail("qdrant did not come back")


@pytest.fixture(scope="module")
def deployed(lab: Any) -> Any:
    """A full deploy (DNS, compute, trusted, verify) that must succeed."""
    res = run_cli("deploy")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return lab


def test_verify_passes_except_gpu_skip(deployed: Any) -> None:
    code, report, _ = verify()
    failed = [c for c in report["checks"] if c["status"] not in ("pass", "skip")]
    assert code == 0, failed
    assert not failed
    skipped = [c for c in report["checks"] if c["status"] == "skip"]
    assert skipped, "the lab's compute host has no GPU: its GPU check must skip"
    assert {c["layer"] for c in skipped} == {"gpu"}
    assert all("no GPU" in c["evidence"] for c in skipped), skipped
    names = by_status(report, "pass")
    for expected in [
        ("dns", "dns.chat"),
        ("dns", "dns.absent.vllm"),
        ("compute", "container.qdrant"),
        ("compute", "http.qdrant.readyz"),
        ("compute", "container.ollama"),
        ("trusted", "container.litellm"),
        ("trusted", "http.litellm.liveliness"),
        ("trusted", "http.litellm.models"),
        ("trusted", "http.openwebui.health"),
        ("trusted", "network.open-webui.ollama"),
        ("trusted", "network.open-webui.ollama-api"),
        ("trusted", "network.litellm.ollama"),
        ("trusted", "auth.chat"),
        ("trusted", "auth.openai"),
        ("trusted", "auth.outpost"),
    ]:
        assert expected in names, expected
    layers = {c["layer"] for c in report["checks"]}
    assert {"dns", "container", "network", "http", "auth", "model", "gpu"} <= layers


def test_plain_output_one_line_per_check(deployed: Any) -> None:
    res = run_cli("verify", "--filter", "role=compute")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "PASS compute container.qdrant: qdrant on compute: running" in res.stdout
    assert "SKIP compute gpu: " in res.stdout


def test_stopped_qdrant_fails_exactly_its_checks(deployed: Any) -> None:
    lab = deployed
    try:
        assert lab.host_exec("compute", "docker stop qdrant").returncode == 0
        code, report, _ = verify()
        assert code == 1
        failed = [c for c in report["checks"] if c["status"] == "fail"]
        assert {(c["host"], c["name"]) for c in failed} == {
            ("compute", "container.qdrant"),
            ("compute", "http.qdrant.readyz"),
        }, failed
        for c in failed:
            assert c["remedy"], c
        container = next(c for c in failed if c["name"] == "container.qdrant")
        assert "exited" in container["evidence"]
        assert "cd /opt/stacks/qdrant && docker compose up -d" in container["remedy"]
    finally:
        lab.host_exec("compute", "docker start qdrant")
        wait_qdrant(lab)


def test_wrong_qdrant_key_is_an_auth_failure(deployed: Any, lab_copy: Path) -> None:
    # The key changes for this verify run only; the deployed .env keeps the vault's key.
    code, report, text = verify(
        "--stacks",
        "qdrant",
        config=lab_copy,
        env={"HOMEHUB_SECRET_VAULT_QDRANT_API_KEY": WRONG_KEY},
    )
    assert code == 1
    readyz = next(c for c in report["checks"] if c["name"] == "http.qdrant.readyz")
    assert readyz["status"] == "fail"
    assert readyz["layer"] == "auth"
    assert "401" in readyz["evidence"]
    assert "API key mismatch" in readyz["remedy"]
    assert by_status(report, "fail") == {("compute", "http.qdrant.readyz")}
    assert WRONG_KEY not in text


def test_without_extra_hosts_the_network_check_fails(deployed: Any) -> None:
    lab = deployed
    compose = "/opt/stacks/openwebui/compose.yaml"
    try:
        res = lab.host_exec(
            "trusted",
            f"sed -i -e '/^    extra_hosts:/d' -e '/^      - \"[a-z0-9.-]*:[0-9.]*\"$/d' {compose} "
            f"&& ! grep -q extra_hosts {compose} && cd /opt/stacks/openwebui && "
            "docker compose up -d --wait",
            timeout=120,
        )
        assert res.returncode == 0, res.stderr
        code, report, _ = verify("--stacks", "openwebui")
        assert code == 1
        failed = {c["name"]: c for c in report["checks"] if c["status"] == "fail"}
        assert "network.open-webui.ollama" in failed, report["checks"]
        assert failed["network.open-webui.ollama"]["layer"] == "network"
        assert "extra_hosts" in failed["network.open-webui.ollama"]["remedy"]
        assert set(failed) <= {
            "network.open-webui.ollama",
            "network.open-webui.qdrant",
            "network.open-webui.ollama-api",
        }
    finally:
        restored = run_cli("deploy", "--stacks", "openwebui")
    assert restored.returncode == 0, restored.stdout[-3000:] + restored.stderr[-3000:]
    assert lab.host_exec("trusted", f"grep -q extra_hosts {compose}").returncode == 0
