"""``internal_dns: bind`` on the lab: the trusted containers resolve the internal names through
the zone's own named (compose ``dns:``), not extra_hosts.

With the switch on (an edited copy of the lab inventory): deploy (verify included) passes, the
trusted compose files on the host hold ``dns:`` with the dns host's address and no
``extra_hosts``, and the resolution checks ran inside the containers against named. A fault:
named is stopped for real (SIGTERM to its PID); verify fails the resolution checks on the dns
layer with a remedy about named; with named started again the next deploy converges, the one
after is a no-op. Switching back (the lab inventory) converges to extra_hosts again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import LAB_CONFIG, run_cli
from test_dns import edit_copy
from test_faults_dns import _start_named, _stop_named

DNS_ADDRESS = "192.0.2.133"
COMPOSE = ("/opt/stacks/litellm/compose.yaml", "/opt/stacks/openwebui/compose.yaml")
CONTAINERS = ("litellm", "open-webui")
NAMES = ("ollama", "qdrant")


def checks(stdout: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(host, check name) -> check, from a ``--json`` report."""
    return {(c["host"], c["name"]): c for c in json.loads(stdout)["checks"]}


def resolution(found: dict[tuple[str, str], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The trusted containers' resolution checks of the internal names."""
    wanted = {f"network.{c}.{n}" for c in CONTAINERS for n in NAMES}
    return {name: c for (host, name), c in found.items() if host == "trusted" and name in wanted}


def test_bind_switch_fault_and_back(
    lab: Any, tmp_path: Path, fault_table: Any, request: pytest.FixtureRequest
) -> None:
    from conftest import copy_lab_inventory

    config = edit_copy(copy_lab_inventory(tmp_path / "inv"), internal_dns="bind")
    res = run_cli("deploy", "--json", config=config)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    found = resolution(checks(res.stdout))
    assert len(found) == len(CONTAINERS) * len(NAMES), sorted(found)
    for c in found.values():
        assert c["status"] == "pass", c
        assert c["layer"] == "dns" and f"via {DNS_ADDRESS}" in c["evidence"], c
    for path in COMPOSE:
        text = lab.host_exec("trusted", f"cat {path}").stdout
        assert "extra_hosts" not in text, path
        assert f'dns:\n      - "{DNS_ADDRESS}"' in text, path
    for container in CONTAINERS:
        hosts_file = lab.host_exec("trusted", f"docker exec {container} cat /etc/hosts").stdout
        assert "ollama.homehub.test" not in hosts_file  # the answer came from named
        dns = lab.host_exec("trusted", f"docker inspect -f '{{{{.HostConfig.Dns}}}}' {container}")
        assert dns.stdout.strip() == f"[{DNS_ADDRESS}]"

    # Fault: named stopped for real. The in-container lookups fail on the dns layer.
    _stop_named(lab)
    try:
        out = run_cli("verify", "--stacks", "litellm,openwebui", "--json", config=config)
        assert out.returncode == 1, out.stdout[-3000:] + out.stderr[-3000:]
        failed = {n: c for n, c in resolution(checks(out.stdout)).items() if c["status"] == "fail"}
        assert set(failed) == {f"network.{c}.{n}" for c in CONTAINERS for n in NAMES}, failed
        for c in failed.values():
            assert c["layer"] == "dns", c
            assert "not resolved" in c["evidence"], c
            assert "named runs on the dns host" in c["remedy"], c
            assert (
                f"dig @{DNS_ADDRESS}" in c["remedy"] and "internal_dns: extra_hosts" in c["remedy"]
            )
    finally:
        _start_named(lab)

    # named is back: the next run converges (exit 0), the one after is a no-op.
    again = run_cli("deploy", "--json", config=config)
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
    assert all(c["status"] == "pass" for c in resolution(checks(again.stdout)).values())
    noop = run_cli("deploy", "--json", config=config)
    assert noop.returncode == 0, noop.stdout[-3000:] + noop.stderr[-3000:]
    stages = json.loads(noop.stdout)["stages"]
    assert all(not s["changed_hosts"] for s in stages), stages

    # Switched off (the lab inventory): extra_hosts again, verify passes (both routed
    # services swap with a twin each, at once).
    back = run_cli("deploy", "--json", config=LAB_CONFIG)
    assert back.returncode == 0, back.stdout[-4000:] + back.stderr[-4000:]
    for c in resolution(checks(back.stdout)).values():
        assert c["status"] == "pass" and c["layer"] == "network", c
    for path in COMPOSE:
        text = lab.host_exec("trusted", f"cat {path}").stdout
        assert "extra_hosts:" in text and "dns:" not in text, path
    fault_table.record(
        fault="named stopped, internal_dns: bind",
        outcome=(
            "verify exit 1: the trusted containers' resolution checks fail on layer dns "
            "(not resolved via the dns host; remedy: named running, allow-query, or "
            "internal_dns: extra_hosts)"
        ),
        converged=True,
        test=request.node.nodeid,
    )
