"""Issue 15 (part B) against the lab: the deploy lock per host and the audit log on each host.

Two deploys started at the same moment: exactly one runs, the other exits 2 naming the first
one's lock, and the audit shows exactly the one deploy. The lock of a killed run (a dead PID
of this controller) is reported stale and taken over by the next deploy, which says so and
converges. A stale lock of another controller (older than lock_ttl) refuses deploys (and any
runbook that may change hosts, while a READ_ONLY one still runs) until ``lock release`` breaks
it, and the next deploy converges.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import LAB_CONFIG, ROOT, run_cli

ROOT_DIR = "/var/lib/homehub"


def deploy_proc(report: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    import os

    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nornir_homehub",
            "--config",
            str(LAB_CONFIG),
            "deploy",
            "--no-verify",
            "--report",
            str(report),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        text=True,
        env={**os.environ, **env},
    )


def audit_entries(*terms: str) -> list[dict[str, Any]]:
    res = run_cli("audit", "--json", *terms)
    assert res.returncode == 0, res.stdout + res.stderr
    entries: list[dict[str, Any]] = json.loads(res.stdout)["entries"]
    return entries


def test_two_deploys_at_once_one_exits_2_and_the_audit_shows_one(lab: Any, tmp_path: Path) -> None:
    first = run_cli("deploy", "--no-verify")
    assert first.returncode == 0, first.stdout + first.stderr
    # A changed Open WebUI secret gives the winner real work (upload, recreate, health wait).
    env = {"HOMEHUB_SECRET_VAULT_WEBUI_SECRET_KEY": "homehub-test-lock-race-5d1f"}
    reports = [tmp_path / "a.json", tmp_path / "b.json"]
    procs = [deploy_proc(r, env) for r in reports]
    outs = [p.communicate(timeout=600) for p in procs]
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 2], (codes, outs)
    win = codes.index(0)
    lose = 1 - win
    won = json.loads(reports[win].read_text())
    assert won["ok"] is True
    # The refused run names the holder (the winner's run id) and says nothing changed.
    err = outs[lose][1]
    assert won["run_id"] in err and "nothing changed" in err, err
    assert "Traceback" not in err
    refused = json.loads(reports[lose].read_text())["run_id"]
    # Exactly the winner's deploy is in the audit, on every host it locked.
    logged = audit_entries("--since", "10m", "--filter", "command=deploy")
    runs = {e["run_id"] for e in logged}
    assert won["run_id"] in runs and refused not in runs
    mine = [e for e in logged if e["run_id"] == won["run_id"]]
    assert sorted(e["host"] for e in mine) == ["compute", "dns", "trusted"]
    trusted = next(e for e in mine if e["host"] == "trusted")
    assert trusted["result"] == "ok"
    env_file = "/opt/stacks/openwebui/.env.openwebui"
    changed = trusted["stacks"]["openwebui"]
    assert changed["files_before"][env_file] != changed["files_after"][env_file]
    # No secret value in any audit line (only hashes).
    text = lab.host_exec("trusted", f"cat {ROOT_DIR}/audit.jsonl").stdout
    assert env["HOMEHUB_SECRET_VAULT_WEBUI_SECRET_KEY"] not in text
    # Every lock was given back, and the next deploy converges (the vault's secret back).
    status = json.loads(run_cli("lock", "status", "--json").stdout)
    assert [s["held"] for s in status["locks"]] == [False, False, False], status
    again = run_cli("deploy", "--no-verify")
    assert again.returncode == 0, again.stdout + again.stderr
    noop = run_cli("deploy", "--no-verify", "--json")
    assert noop.returncode == 0, noop.stderr
    assert json.loads(noop.stdout)["summary"]["hosts_changed"] == 0


def plant_lock(lab: Any, holder: dict[str, Any]) -> None:
    lab.host_exec(
        "trusted",
        f"mkdir -p {ROOT_DIR}/lock && printf '%s\\n' '{json.dumps(holder)}' "
        f"> {ROOT_DIR}/lock/holder.json",
    )


def held() -> dict[str, bool]:
    status = json.loads(run_cli("lock", "status", "--json").stdout)
    return {s["host"]: s["held"] for s in status["locks"]}


def test_the_lock_of_a_killed_run_is_taken_over_and_the_deploy_converges(
    lab: Any, tmp_path: Path
) -> None:
    # A PID that surely is gone on this controller: a process that has ended (a killed run).
    dead = subprocess.Popen(["true"])
    dead.wait()
    plant_lock(
        lab,
        {
            "user": "root",
            "controller": socket.gethostname(),
            "pid": dead.pid,
            "started": utc_iso(),
            "command": "deploy (killed)",
            "run_id": "deadbeef0001",
        },
    )
    res = run_cli("lock", "status", "--json")
    assert res.returncode == 0, res.stderr
    locks = {s["host"]: s for s in json.loads(res.stdout)["locks"]}
    assert locks["trusted"]["held"] and locks["trusted"]["stale"], locks
    assert f"process {dead.pid} is gone" in locks["trusted"]["stale_reason"]
    assert locks["trusted"]["holder"]["run_id"] == "deadbeef0001"
    # Provably nobody holds it: the next deploy takes it over, says so, and converges.
    report = tmp_path / "over.json"
    over = run_cli("deploy", "--no-verify", "--report", str(report))
    assert over.returncode == 0, over.stdout + over.stderr
    assert "took over the deploy lock of a run that is gone" in over.stderr
    assert "deadbeef0001" in over.stderr
    checks = json.loads(report.read_text())["checks"]
    taken = [c for c in checks if c["name"] == "lock.taken_over"]
    assert [(c["host"], c["status"]) for c in taken] == [("trusted", "warn")], taken
    assert held() == {"compute": False, "dns": False, "trusted": False}
    noop = run_cli("deploy", "--no-verify", "--json")
    assert json.loads(noop.stdout)["summary"]["hosts_changed"] == 0


def test_a_stale_lock_of_another_controller_refuses_deploys_until_lock_release(lab: Any) -> None:
    # Older than lock_ttl, from a controller whose processes this one cannot see.
    plant_lock(
        lab,
        {
            "user": "ops",
            "controller": "another-controller",
            "pid": 4242,
            "started": "2026-01-01T00:00:00Z",
            "command": "deploy (left behind)",
            "run_id": "deadbeef0002",
        },
    )
    locks = {s["host"]: s for s in json.loads(run_cli("lock", "status", "--json").stdout)["locks"]}
    assert locks["trusted"]["stale"] and "older than lock_ttl" in locks["trusted"]["stale_reason"]
    # Not broken silently: a deploy refuses (exit 2), names the holder and the way out.
    refused = run_cli("deploy", "--no-verify")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "deadbeef0002" in refused.stderr and "STALE" in refused.stderr
    assert "lock release --host trusted --force" in refused.stderr
    # The refused run left no lock of its own on the other hosts.
    assert held() == {"compute": False, "dns": False, "trusted": True}
    # A runbook that declares READ_ONLY (example_uptime) takes no lock: it runs on the locked
    # host and leaves no audit line; one that may change hosts (backup) is refused there.
    before = len(audit_entries("--since", "10m"))
    peek = run_cli("run", "example_uptime", "--filter", "name=trusted")
    assert peek.returncode in (0, 1), peek.stdout + peek.stderr
    assert "deploy lock held" not in peek.stderr
    assert len(audit_entries("--since", "10m")) == before
    backup = run_cli("run", "backup", "--filter", "name=trusted")
    assert backup.returncode == 2, backup.stdout + backup.stderr
    assert "deadbeef0002" in backup.stderr
    released = run_cli("lock", "release", "--host", "trusted")
    assert released.returncode == 0, released.stdout + released.stderr
    assert "released" in released.stdout
    after = lab.host_exec("trusted", f"[ -e {ROOT_DIR}/lock ] && echo there || echo gone")
    assert after.stdout.strip() == "gone"
    again = run_cli("deploy", "--no-verify")
    assert again.returncode == 0, again.stdout + again.stderr
    noop = run_cli("deploy", "--no-verify", "--json")
    assert json.loads(noop.stdout)["summary"]["hosts_changed"] == 0


def utc_iso() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
