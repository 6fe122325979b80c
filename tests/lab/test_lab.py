"""The lab itself: idempotent up, status, hosts isolated from the real root."""

from __future__ import annotations

from typing import Any

from conftest import run_cli


def test_lab_up_twice_is_harmless(lab: Any) -> None:
    before = {h.name: h.sshd_pid for h in lab.status().hosts}
    res = run_cli("lab", "up")
    assert res.returncode == 0, res.stderr
    after = {h.name: h.sshd_pid for h in lab.status().hosts}
    assert before == after  # nothing restarted


def test_hosts_have_own_hostname_and_root(lab: Any) -> None:
    res = lab.host_exec("compute", "hostname; touch /srv/only-on-compute; ls /srv")
    assert res.stdout.split()[0] == "compute"
    other = lab.host_exec("trusted", "ls /srv/only-on-compute 2>/dev/null || echo absent")
    assert other.stdout.strip() == "absent"
    from pathlib import Path

    assert not Path("/srv/only-on-compute").exists()  # nothing reaches the real /
    lab.host_exec("compute", "rm -f /srv/only-on-compute")


def test_engines_and_named_run_where_the_roles_say(lab: Any) -> None:
    trusted = lab.host_exec(
        "trusted", "docker info --format '{{.ServerVersion}}'; docker compose version --short"
    )
    assert trusted.returncode == 0 and trusted.stdout.splitlines()[1].startswith("2.")
    dns = lab.host_exec("dns", "rndc status | grep -c 'server is up'")
    assert dns.stdout.strip() == "1"
    assert lab.host_exec("dns", "docker info >/dev/null 2>&1").returncode != 0


def test_sshd_outage_and_recovery(lab: Any) -> None:
    lab.stop_sshd("compute")
    try:
        res = run_cli("exec", "--filter", "role=compute", "--", "hostname")
        assert res.returncode == 1
        assert "compute" in res.stdout and "SSH connection failed" in res.stdout
        # The engine kept running through the outage.
        assert lab.host_exec("compute", "docker info >/dev/null && echo ok").stdout.strip() == "ok"
    finally:
        assert lab.start_sshd("compute")
    assert run_cli("exec", "--filter", "role=compute", "--", "hostname").stdout.endswith(
        "compute\n"
    )


def test_lab_grows_and_shrinks(lab: Any) -> None:
    import json
    from pathlib import Path

    grown = run_cli("lab", "up", "--hosts", "4")
    try:
        assert grown.returncode == 0, grown.stderr
        status = json.loads(run_cli("lab", "status", "--json").stdout)
        node = next(h for h in status["hosts"] if h["name"] == "node01")
        assert node["address"] == "192.0.2.141" and node["state"] == "up"
        generated = lab.inventory_dir / "config.yaml"
        res = run_cli("exec", "--filter", "group=node", "--", "hostname", config=generated)
        assert res.returncode == 0 and res.stdout.endswith("node01\n")
    finally:
        shrunk = run_cli("lab", "up", "--hosts", "3")
    assert shrunk.returncode == 0, shrunk.stderr
    assert not Path("/run/netns/hh-node01").exists()
    status = json.loads(run_cli("lab", "status", "--json").stdout)
    assert [h["name"] for h in status["hosts"]] == ["trusted", "compute", "dns"]
