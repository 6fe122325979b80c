"""Issue 6 against the lab: the full rollout and its gates, reports through the CLI (JSON,
JUnit, --json on a pipe, Ctrl-C), the history, user runbooks and the Python API.

The tests run in order on one lab: the first one converges it with the README's main command.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import LAB_CONFIG, ROOT, run_cli

from nornir_homehub.report import validate_report

ROLLOUT_STAGES = ["dns", "compute stacks", "trusted stacks"]
RUN_IDS: dict[str, str] = {}  # test -> run_id of the report it wrote, for the history test


def junit_root(path: Path) -> ET.Element:
    return ET.fromstring(path.read_text())  # noqa: S314 - our own file, written by the test


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    validate_report(data)
    return data


def test_readme_main_command_full_rollout(lab: Any, tmp_path: Path) -> None:
    report = tmp_path / "lab.json"
    res = run_cli("deploy", "--report", str(report))
    assert res.returncode == 0, res.stdout + res.stderr
    data = load(report)
    assert data["ok"] is True and data["incomplete"] is False and data["stopped_at"] is None
    names = [s["name"] for s in data["stages"]]
    # After the compute stacks, the models gate (issue 17), then the trusted stacks.
    assert names[:4] == ["dns", "compute stacks", "compute models", "trusted stacks"], names
    verify = [n for n in names[4:] if n.startswith("verify")]
    assert verify and verify[0] == "verify dns", names
    assert all(s["ok"] for s in data["stages"]), data["stages"]
    assert set(data["hosts"]) == {"trusted", "compute", "dns"}
    assert data["summary"]["checks_fail"] == 0 and data["summary"]["checks_pass"] > 0
    # The terminal summary table (hosts x ok/changed/failed) ends the plain output.
    assert "host" in res.stdout and "changed" in res.stdout and "failed" in res.stdout
    RUN_IDS["full"] = data["run_id"]


@pytest.fixture
def compute_sshd_down(lab: Any) -> Any:
    lab.stop_sshd("compute")
    try:
        yield lab
    finally:
        assert lab.start_sshd("compute")


def compute_failure(data: dict[str, Any]) -> dict[str, Any]:
    host = data["hosts"]["compute"]
    assert host["failed"] is True
    errors = [t["error"] for t in host["tasks"] if t["error"] and t["stage"] == "compute stacks"]
    transport = [e for e in errors if e["type"] == "TransportError"]
    assert transport, errors
    return transport[0]  # type: ignore[no-any-return]


def test_gate_stops_after_failed_compute_stage(
    compute_sshd_down: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    out = tmp_path_factory.mktemp("gate")
    report, junit = out / "gate.json", out / "gate.xml"
    res = run_cli("deploy", "--report", str(report), "--junit", str(junit))
    assert res.returncode == 1, res.stdout + res.stderr
    data = load(report)
    RUN_IDS["gate"] = data["run_id"]
    assert data["ok"] is False and data["incomplete"] is False
    err = compute_failure(data)
    assert err["layer"] == "ssh"
    assert "compute" in err["message"] and "SSH connection failed" in err["message"]
    assert data["stopped_at"]["stage"] == "compute stacks"
    assert "compute: TransportError" in data["stopped_at"]["reason"]
    names = [s["name"] for s in data["stages"]]
    assert names == ["dns", "compute stacks"], names  # trusted stacks and verify never ran
    assert "trusted" not in data["hosts"]
    by = {s["name"]: s for s in data["stages"]}
    assert by["dns"]["ok"] is True
    assert by["compute stacks"]["stopped"] is True
    assert by["compute stacks"]["failed_hosts"] == ["compute"]
    # The terminal names the host and the layer.
    assert "compute" in res.stdout + res.stderr and "TransportError" in res.stdout + res.stderr

    # JUnit: parses, lists the compute failure and the gate.
    root = junit_root(junit)
    assert root.tag == "testsuites" and int(root.get("failures", "0")) >= 2
    failures = [
        (case.get("classname"), case.get("name"), f.get("type"), f.get("message", ""))
        for case in root.iter("testcase")
        for f in case.findall("failure")
    ]
    assert any(c == "compute" and t == "TransportError" for c, _, t, _ in failures), failures
    assert any(t == "StageStopped" and "compute" in m for _, _, t, m in failures), failures
    suites = {s.get("name") for s in root.iter("testsuite")}
    assert "deploy.compute stacks" in suites and "deploy.trusted stacks" not in suites


def test_keep_going_runs_the_later_stages(compute_sshd_down: Any, tmp_path: Path) -> None:
    report = tmp_path / "keep.json"
    res = run_cli("deploy", "--keep-going", "--report", str(report))
    assert res.returncode == 1, res.stdout + res.stderr
    data = load(report)
    compute_failure(data)
    assert data["stopped_at"] is None
    names = [s["name"] for s in data["stages"]]
    assert names[:3] == ROLLOUT_STAGES
    assert any(n.startswith("verify") for n in names)
    by = {s["name"]: s for s in data["stages"]}
    assert by["trusted stacks"]["ok"] is True and by["trusted stacks"]["hosts"] == ["trusted"]
    assert data["hosts"]["trusted"]["failed"] is False or any(
        c["host"] == "trusted" and c["status"] == "fail" for c in data["checks"]
    )


def test_json_on_a_pipe(lab: Any) -> None:
    cmd = [sys.executable, "-m", "nornir_homehub", "--config", str(LAB_CONFIG)]
    producer = subprocess.Popen(
        [*cmd, "deploy", "--dry-run", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    tool = subprocess.Popen(
        [sys.executable, "-m", "json.tool"],
        stdin=producer.stdout,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert producer.stdout is not None
    producer.stdout.close()  # json.tool owns the read end now
    pretty, tool_err = tool.communicate(timeout=600)
    producer_err = producer.stderr.read() if producer.stderr else b""
    assert producer.wait(timeout=60) == 0, producer_err.decode()
    assert tool.returncode == 0, tool_err.decode()
    assert b"\x1b" not in pretty and b"\\u001b" not in pretty
    data = json.loads(pretty)
    validate_report(data)
    assert data["dry_run"] is True and data["ok"] is True
    assert data["summary"]["hosts_changed"] == 0  # converged by the first test
    assert b"\x1b" not in producer_err  # not a TTY: plain progress lines, no escape codes


def test_ctrl_c_leaves_an_incomplete_report(lab: Any, tmp_path: Path) -> None:
    report = tmp_path / "interrupted.json"
    # A changed Open WebUI secret gives the run real work on the trusted host (upload, compose,
    # health wait): interrupted there, it is surely in progress, however fast the lab is.
    env = {**os.environ, "HOMEHUB_SECRET_VAULT_WEBUI_SECRET_KEY": "homehub-test-interrupted-7c2e"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nornir_homehub",
            "--config",
            str(LAB_CONFIG),
            "deploy",
            "--report",
            str(report),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    # Interrupt once the trusted stage has begun (its progress line), as a user would.
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("trusted: trusted stacks ..."):
            break
    else:
        pytest.fail("the deploy ended before its trusted stage began: " + "".join(seen))
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode != 0, err
    data = load(report)
    RUN_IDS["interrupted"] = data["run_id"]
    assert data["incomplete"] is True and data["ok"] is False
    assert data["error"]["type"] == "KeyboardInterrupt"
    assert "trusted stacks" in [s["name"] for s in data["stages"]]
    # The lab is still usable: a deploy converges it again (the vault's secret back), then
    # the next one is a no-op.
    again = run_cli("deploy", "--no-verify")
    assert again.returncode == 0, again.stdout + again.stderr
    noop = run_cli("deploy", "--no-verify", "--json")
    assert noop.returncode == 0, noop.stderr
    assert json.loads(noop.stdout)["summary"]["hosts_changed"] == 0


def test_history_lists_the_runs_newest_first(lab: Any) -> None:
    res = run_cli("history", "--json", "--limit", "200")
    assert res.returncode == 0, res.stderr
    runs = json.loads(res.stdout)["runs"]
    ids = [r["run_id"] for r in runs]
    order = [RUN_IDS[k] for k in ("interrupted", "gate", "full") if k in RUN_IDS]
    assert len(order) == 3, RUN_IDS
    positions = [ids.index(i) for i in order]
    assert positions == sorted(positions), (order, ids[:20])
    started = [r["started"] for r in runs]
    assert started == sorted(started, reverse=True)
    by = {r["run_id"]: r for r in runs}
    assert by[RUN_IDS["interrupted"]]["status"] == "incomplete"
    assert by[RUN_IDS["gate"]]["stopped_at"] == "compute stacks"
    assert by[RUN_IDS["full"]]["status"] == "ok"
    plain = run_cli("history", "--limit", "200")
    assert "stopped at compute stacks" in plain.stdout


def test_user_runbook_from_its_own_folder(lab_copy: Path, tmp_path: Path) -> None:
    books = tmp_path / "my-runbooks"
    books.mkdir()
    (books / "vitals.py").write_text((ROOT / "runbooks" / "example_uptime.py").read_text())
    cfg = yaml.safe_load(lab_copy.read_text())
    cfg["homehub"]["runbooks_dir"] = str(books)
    lab_copy.write_text(yaml.safe_dump(cfg, sort_keys=False))

    report, junit = tmp_path / "vitals.json", tmp_path / "vitals.xml"
    res = run_cli(
        "run",
        "vitals",
        "-o",
        "disk_warn_pct=99.5",
        "--report",
        str(report),
        "--junit",
        str(junit),
        config=lab_copy,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    data = load(report)
    assert data["command"] == "vitals" and [s["name"] for s in data["stages"]] == ["vitals"]
    names = {(c["host"], c["name"]) for c in data["checks"]}
    for host in ("trusted", "compute", "dns"):
        assert {(host, "uptime"), (host, "load"), (host, "disk.data_root")} <= names
    disk = next(c for c in data["checks"] if c["name"] == "disk.data_root")
    assert disk["data"]["path"].startswith("/srv")
    cases = list(junit_root(junit).iter("testcase"))
    assert len(cases) >= 9

    # Thresholds are options: at 0 % every data root is "full" and the run fails (exit 1).
    full = run_cli(
        "run", "vitals", "-o", "disk_warn_pct=0", "-o", "disk_fail_pct=0", config=lab_copy
    )
    assert full.returncode == 1, full.stdout + full.stderr
    assert "disk.data_root" in full.stdout + full.stderr

    missing = run_cli("run", "nope", config=lab_copy)
    assert missing.returncode == 2
    assert "no runbook 'nope'" in missing.stderr
    # The user's folder adds to the built-in runbooks: both are listed.
    available = missing.stderr.split("available: ", 1)[1].strip().split(", ")
    assert "vitals" in available and "deploy" in available


def test_builtin_runbooks_gpu_and_rollout_run_by_name(lab: Any, tmp_path: Path) -> None:
    gpu = run_cli("run", "gpu", "--json")
    assert gpu.returncode == 0, gpu.stderr
    data = json.loads(gpu.stdout)
    validate_report(data)
    assert {c["status"] for c in data["checks"]} == {"skip"}  # the lab has no GPU
    dry = run_cli("run", "rollout", "--dry-run", "--report", str(tmp_path / "r.json"))
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert [s["name"] for s in load(tmp_path / "r.json")["stages"]] == ROLLOUT_STAGES


def test_check_and_exec_write_reports(lab: Any, tmp_path: Path) -> None:
    report, junit = tmp_path / "gpu.json", tmp_path / "gpu.xml"
    res = run_cli("check", "gpu", "--report", str(report), "--junit", str(junit))
    assert res.returncode == 0, res.stderr
    data = load(report)
    assert data["command"] == "check gpu" and len(data["checks"]) == 3
    assert len(junit_root(junit).findall(".//skipped")) == 3
    ex = run_cli(
        "exec", "--filter", "role=dns", "--report", str(tmp_path / "x.json"), "--", "false"
    )
    assert ex.returncode == 1
    xdata = load(tmp_path / "x.json")
    assert xdata["command"] == "exec" and xdata["hosts"]["dns"]["failed"] is True


def test_python_api_against_the_lab(lab: Any) -> None:
    from nornir_homehub import HomeHub
    from nornir_homehub.report import RunReport

    hh = HomeHub(LAB_CONFIG)
    assert "trusted" in repr(hh) and "<table" in hh._repr_html_()
    inv = hh.inventory()
    assert inv.names == ["trusted", "compute", "dns"]
    assert "compute" in repr(inv) and "<table" in inv._repr_html_()
    compute = hh.filter(role="compute")
    assert compute.hosts() == ["compute"]

    rep = compute.deploy(dry_run=True)
    assert isinstance(rep, RunReport)
    assert rep.ok and rep.dry_run and rep.summary["hosts_changed"] == 0
    assert list(rep.hosts) == ["compute"]
    assert "<table" in rep._repr_html_() and "deploy ok" in repr(rep)
    validate_report(rep.to_dict())

    ps = compute.exec("docker ps --format '{{.Names}}'")
    assert ps.ok and "ollama" in ps["compute"].stdout.split()
    assert "<table" in ps._repr_html_() and "=== compute (exit 0)" in repr(ps)
    assert ps.to_dict()["hosts"][0]["exit_code"] == 0
    validate_report(ps.report.to_dict())

    gpu = hh.check_gpu()
    assert gpu.ok and {str(c.status) for c in gpu.checks} == {"skip"}
    validate_report(gpu.to_dict())
