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
import yaml
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
        ("trusted", "models.litellm.qwen2.5-coder:14b@compute"),
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


def test_changed_webui_secret_five_deploys_in_a_row_never_404(
    deployed: Any, tmp_path: Path
) -> None:
    """Issue 10's must-hold: each deploy recreates open-webui (a new secret each time), waits
    for Traefik to route it again, and its verify never sees a 404."""
    try:
        for i in range(5):
            report = tmp_path / f"webui-{i}.json"
            env = {"HOMEHUB_SECRET_VAULT_WEBUI_SECRET_KEY": f"homehub-test-webui-key-{i}-b7"}
            res = run_cli("deploy", "--stacks", "openwebui", "--report", str(report), env=env)
            assert res.returncode == 0, (i, res.stdout[-3000:] + res.stderr[-3000:])
            data = json.loads(report.read_text())
            trusted = data["hosts"]["trusted"]["tasks"]
            plan = next(t["result"] for t in trusted if t["name"] == "stack:openwebui")
            assert plan["action"] == "up", plan  # the .env changed: open-webui is recreated
            edge = next(t for t in trusted if t["name"] == "edge convergence")
            assert {r["cause"] for r in edge["result"]} == {"served"}, edge
            auth = [c for c in data["checks"] if c["name"].startswith("auth.")]
            assert auth and all(c["status"] == "pass" for c in auth), auth
            # verify did not even need its settle window: the deploy waited for the edge.
            assert all(c["data"]["waited_s"] < 1 for c in auth if "waited_s" in c["data"]), auth
            assert not [c for c in data["checks"] if "-> 404" in c["evidence"]]
            assert data["summary"]["checks_fail"] == 0
    finally:
        restored = run_cli("deploy", "--stacks", "openwebui")
    assert restored.returncode == 0, restored.stdout[-3000:] + restored.stderr[-3000:]


def wait_route(lab: Any, fqdn: str, timeout: float = 90) -> None:
    """Wait (bounded) until Traefik serves ``fqdn`` through the auth middleware again."""
    deadline = time.monotonic() + timeout
    probe = f"curl -s -o /dev/null -w '%{{http_code}}' -H 'Host: {fqdn}' http://127.0.0.1/"
    while time.monotonic() < deadline:
        if lab.host_exec("trusted", probe).stdout.strip() == "302":
            return
        time.sleep(0.5)
    pytest.fail(f"{fqdn} was not routed again")


def wait_router_gone(lab: Any, fqdn: str, timeout: float = 60) -> None:
    """Wait (bounded) until Traefik's API lists no router for ``fqdn``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        res = lab.host_exec("trusted", "curl -sf http://127.0.0.1:8080/api/http/routers")
        if res.returncode == 0 and f"`{fqdn}`" not in res.stdout:
            return
        time.sleep(0.5)
    pytest.fail(f"Traefik still routes {fqdn}")


def _settle(lab_copy: Path, **values: Any) -> None:
    defaults = lab_copy.parent / "defaults.yaml"
    doc = yaml.safe_load(defaults.read_text())
    doc["data"].update(values)
    defaults.write_text(yaml.safe_dump(doc, sort_keys=False))


def test_a_route_that_is_not_there_is_diagnosed_from_traefiks_api(
    deployed: Any, lab_copy: Path
) -> None:
    """Traefik's API (traefik_api_url) names the cause; the remedy matches it."""
    lab = deployed
    _settle(lab_copy, edge_settle_timeout=2)
    try:
        assert lab.host_exec("trusted", "docker stop open-webui").returncode == 0
        # Traefik keeps serving a stopped container's router until it applied the change
        # (about 2 s): wait until its API no longer lists the router.
        wait_router_gone(lab, "chat.homehub.test")
        code, report, _ = verify("--stacks", "openwebui", config=lab_copy)
        assert code == 1
        chat = next(c for c in report["checks"] if c["name"] == "auth.chat")
        assert (chat["status"], chat["layer"], chat["data"]["cause"]) == (
            "fail",
            "http",
            "router missing",
        ), chat
        assert "Traefik's API: Traefik has no router for chat.homehub.test" in chat["evidence"]
        assert "once the container is healthy" in chat["remedy"]
        assert "Authentik" not in chat["remedy"] and "authentik" not in chat["remedy"]
    finally:
        lab.host_exec("trusted", "docker start open-webui")
    wait_route(lab, "chat.homehub.test")
    try:
        assert lab.host_exec("trusted", "docker stop authentik-outpost").returncode == 0
        code, report, _ = verify("--stacks", "openwebui", config=lab_copy)
        assert code == 1
        chat = next(c for c in report["checks"] if c["name"] == "auth.chat")
        assert (chat["layer"], chat["data"]["cause"]) == ("auth", "middleware missing"), chat
        assert 'middleware "authentik@docker" does not exist' in chat["evidence"]
        assert "Authentik Middleware Not Found" in chat["remedy"]
        # The deploy's own wait names the same cause when a route it (re)created never comes.
        _settle(lab_copy, edge_wait_timeout=6)
        env = {"HOMEHUB_SECRET_VAULT_WEBUI_SECRET_KEY": "homehub-test-edge-diagnosis-51"}
        res = run_cli("deploy", "--json", "--stacks", "openwebui", config=lab_copy, env=env)
        assert res.returncode == 1, res.stderr
        data = json.loads(res.stdout)
        edge = next(t for t in data["hosts"]["trusted"]["tasks"] if t["name"] == "edge convergence")
        assert edge["failed"] and edge["error"]["type"] == "EdgeNotConverged", edge
        assert edge["error"]["layer"] == "auth", edge
        assert "chat.homehub.test (router openwebui@docker" in edge["error"]["message"]
        assert "middleware missing" in edge["error"]["message"]
        assert data["stopped_at"]["stage"] == "trusted stacks"
    finally:
        lab.host_exec("trusted", "docker start authentik-outpost")
    restored = run_cli("deploy", "--stacks", "openwebui")
    assert restored.returncode == 0, restored.stdout[-3000:] + restored.stderr[-3000:]
