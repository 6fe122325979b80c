"""Run reports: JSON document, schema, interruption, history, notebook views."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from nornir.core.task import Result, Task
from nornir_runs import (
    SECRET,
    make_nornir,
    read_version,
    redact,
    run_rollout,
    write_env,
)

from nornir_homehub.checks.model import Check, Layer, Status
from nornir_homehub.errors import ConfigError, TransportError
from nornir_homehub.progress import ProgressProcessor
from nornir_homehub.report import (
    MAX_TEXT,
    ReportError,
    ReportSchemaError,
    RunRecorder,
    RunReport,
    TimingProcessor,
    list_history,
    load_report,
    recording,
    report_schema,
    save_history,
    validate_report,
    write_junit,
    write_report,
)
from nornir_homehub.report.views import change_lines
from nornir_homehub.secrets import SecretStore


def _tasks(doc: dict[str, Any], host: str) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in doc["hosts"][host]["tasks"]}


@pytest.fixture
def rollout(tmp_path: Path) -> tuple[RunReport, dict[str, Any], Path]:
    path = tmp_path / "out" / "report.json"
    recorder = run_rollout(tmp_path, report_path=path, history_dir=tmp_path / "runs")
    assert recorder.report is not None
    return recorder.report, json.loads(path.read_text()), path


def test_report_file_validates_and_describes_the_run(rollout: Any) -> None:
    _, doc, _ = rollout
    validate_report(doc)
    assert doc["schema_version"] == "1"
    assert doc["command"] == "deploy"
    assert doc["filter"] == ["role=compute"]
    assert doc["dry_run"] is False
    assert doc["ok"] is False
    assert doc["incomplete"] is False
    assert doc["stopped_at"] == {
        "stage": "verify",
        "reason": "dns-1 does not serve chat.homehub.dk",
    }
    assert doc["started"] <= doc["finished"]
    assert doc["duration_s"] >= 0
    assert [s["name"] for s in doc["stages"]] == ["deploy", "verify"]
    deploy, verify = doc["stages"]
    assert deploy["failed_hosts"] == ["compute-1"]
    assert deploy["ok"] is False
    assert sorted(deploy["changed_hosts"]) == ["dns-1", "trusted-1"]
    assert verify["stopped"] is True
    assert verify["failed_hosts"] == ["dns-1"]


def test_hosts_tasks_and_subtasks(rollout: Any) -> None:
    _, doc, _ = rollout
    hosts = doc["hosts"]
    assert set(hosts) == {"trusted-1", "compute-1", "dns-1"}
    assert hosts["trusted-1"] | {"tasks": None} == {"failed": False, "changed": True, "tasks": None}
    assert hosts["compute-1"]["failed"] is True
    assert hosts["compute-1"]["changed"] is False
    # dns-1 ran every task fine but its DNS check failed: the host failed
    assert hosts["dns-1"]["failed"] is True

    trusted = hosts["trusted-1"]["tasks"]
    assert [(t["name"], t["level"], t["stage"]) for t in trusted] == [
        ("deploy_host", 0, "deploy"),
        ("read_version", 1, "deploy"),
        ("write_env", 1, "deploy"),
        ("verify_host", 0, "verify"),
    ]
    tasks = _tasks(doc, "trusted-1")
    assert tasks["read_version"]["result"] == {"version": "1.2.3", "role": "trusted"}
    assert tasks["write_env"]["changed"] is True
    assert "+API_KEY=********" in tasks["write_env"]["diff"]
    assert tasks["deploy_host"]["result"] == "deployed"
    # a task that returned checks has them in the checks list, not in its result
    assert tasks["verify_host"]["result"] is None
    assert all(isinstance(t["duration_s"], float) and t["duration_s"] >= 0 for t in trusted)


def test_raising_task_has_type_message_layer_and_no_traceback(rollout: Any) -> None:
    _, doc, path = rollout
    tasks = _tasks(doc, "compute-1")
    failed = tasks["connect_fails"]
    assert failed["failed"] is True
    assert failed["result"] is None
    assert failed["error"] == {
        "type": "HostKeyError",
        "message": "host key of compute-1 differs (token ********)",
        "layer": "ssh",
    }
    assert tasks["deploy_host"]["error"]["type"] == "NornirSubTaskError"
    assert tasks["deploy_host"]["error"]["message"] == "subtask 'connect_fails' failed"
    text = path.read_text()
    assert "Traceback" not in text
    assert 'File "' not in text


def test_checks_are_their_own_list(rollout: Any) -> None:
    _, doc, _ = rollout
    checks = {(c["host"], c["name"]): c for c in doc["checks"]}
    # compute-1 failed in deploy, so Nornir did not verify it
    assert {h for h, _ in checks} == {"trusted-1", "dns-1"}
    dns = checks[("dns-1", "dns.chat")]
    assert dns["layer"] == "dns"
    assert dns["status"] == "fail"
    assert dns["evidence"] == "chat.homehub.dk -> 10.2.0.9 (asked with key ********)"
    assert dns["remedy"] == "reload the zone: rndc reload homehub.dk"
    assert dns["stage"] == "verify"
    assert dns["task"] == "verify_host"
    assert checks[("trusted-1", "dns.chat")]["status"] == "warn"
    assert doc["summary"] == {
        "hosts": 3,
        "hosts_failed": 2,
        "hosts_changed": 2,
        "tasks": 11,
        "tasks_failed": 2,
        "tasks_changed": 2,
        "checks": 6,
        "checks_pass": 2,
        "checks_fail": 1,
        "checks_warn": 1,
        "checks_skip": 2,
    }


def test_secret_never_reaches_report_or_history(tmp_path: Path) -> None:
    run_rollout(
        tmp_path,
        report_path=tmp_path / "r.json",
        junit_path=tmp_path / "r.xml",
        history_dir=tmp_path / "runs",
    )
    files = [tmp_path / "r.json", tmp_path / "r.xml", *(tmp_path / "runs").iterdir()]
    assert len(files) == 3
    for f in files:
        text = f.read_text()
        assert SECRET not in text, f
        assert "********" in text
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["argv"] == ["deploy", "--filter", "role=compute", "--token", "********"]


def test_successful_run_is_ok_and_round_trips(tmp_path: Path) -> None:
    nr = make_nornir(tmp_path)
    timing = TimingProcessor()
    recorder = RunRecorder("status", ["status"], dry_run=True)
    with recording(recorder, report_path=tmp_path / "r.json"):
        recorder.add_result("status", nr.with_processors([timing]).run(read_version), timing)
    report = load_report(tmp_path / "r.json")
    assert report.ok is True
    assert report.dry_run is True
    assert report.failed_hosts == []
    assert report == recorder.report
    assert RunReport.from_dict(report.to_dict()).to_dict() == report.to_dict()


def test_keyboard_interrupt_leaves_an_incomplete_report(tmp_path: Path) -> None:
    def slow_then_ctrl_c(task: Task) -> Result:
        if task.host.name == "compute-1":
            raise KeyboardInterrupt
        return Result(host=task.host, result="done", changed=True)

    nr = make_nornir(tmp_path, runner="serial")
    timing = TimingProcessor()
    proc = ProgressProcessor(enabled=False, timings=timing)
    recorder = RunRecorder("deploy", ["deploy"], redact=redact)
    recorder.watch(timing)
    path = tmp_path / "r.json"
    with (
        pytest.raises(KeyboardInterrupt),
        recording(recorder, report_path=path, history_dir=tmp_path / "runs"),
        recorder.stage("compute"),
    ):
        # the result never comes back: the recorder takes what the processor saw
        nr.with_processors([timing, proc]).run(slow_then_ctrl_c)

    doc = json.loads(path.read_text())
    validate_report(doc)
    assert doc["incomplete"] is True
    assert doc["ok"] is False
    assert doc["error"] == {
        "type": "KeyboardInterrupt",
        "message": "interrupted (Ctrl-C)",
        "layer": None,
    }
    # trusted-1 finished before Ctrl-C, compute-1 was running, dns-1 never started
    assert doc["hosts"]["trusted-1"]["tasks"][0]["changed"] is True
    assert doc["hosts"]["trusted-1"]["tasks"][0]["stage"] == "compute"
    running = doc["hosts"]["compute-1"]["tasks"][0]
    assert running["error"]["type"] == "Interrupted"
    assert running["failed"] is True
    assert "dns-1" not in doc["hosts"]
    assert list_history(tmp_path / "runs")[0].status == "incomplete"


def test_other_exception_is_recorded_and_reraised(tmp_path: Path) -> None:
    recorder = RunRecorder("deploy", redact=redact)
    path = tmp_path / "r.json"
    with pytest.raises(ConfigError, match="missing"), recording(recorder, report_path=path):
        raise ConfigError(f"secret litellm_master_key missing ({SECRET})")
    doc = json.loads(path.read_text())
    assert doc["incomplete"] is True
    assert doc["error"]["type"] == "ConfigError"
    assert SECRET not in path.read_text()


def test_unwritable_report_raises_report_error(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    recorder = RunRecorder("status")
    with (
        pytest.raises(ReportError, match="taken"),
        recording(recorder, report_path=tmp_path / "taken"),
    ):
        pass
    assert recorder.report is not None
    assert recorder.report.ok is True


def test_write_is_atomic_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text("old")
    report = RunRecorder("status").finish()
    write_report(report, path)
    assert json.loads(path.read_text())["run_id"] == report.run_id
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_host_error_structured_results_and_failed_result(tmp_path: Path) -> None:
    @dataclass(frozen=True)
    class Verification:
        checks: list[Check]
        endpoint: Path

        def to_dict(self) -> dict[str, Any]:
            return {"endpoint": self.endpoint, "checks": ["duplicated"]}

    def structured(task: Task) -> Result:
        check = Check("http.chat", task.host.name, Layer.HTTP, Status.PASS, "200 in 12 ms")
        return Result(host=task.host, result=Verification([check], Path("/health")))

    def odd_values(task: Task) -> Result:
        return Result(
            host=task.host, result={"tags": {"b", "a"}, "raw": b"\xffok", "p": Path("/x")}
        )

    def reports_failure(task: Task) -> Result:
        return Result(host=task.host, result=f"compose up exited 1 ({SECRET})", failed=True)

    nr = make_nornir(tmp_path).filter(name="dns-1")
    recorder = RunRecorder("verify", redact=redact)
    for fn in (structured, odd_values, reports_failure):
        recorder.add_result("verify", nr.run(fn))
    recorder.add_host_error("connect", "trusted-1", TransportError("connection refused"))
    doc = recorder.finish().to_dict()
    validate_report(doc)
    tasks = _tasks(doc, "dns-1")
    assert tasks["structured"]["result"] == {"endpoint": "/health"}
    assert tasks["odd_values"]["result"] == {"tags": ["a", "b"], "raw": "\ufffdok", "p": "/x"}
    assert tasks["reports_failure"]["error"] == {
        "type": "TaskFailed",
        "message": "compose up exited 1 (********)",
        "layer": None,
    }
    assert [c["name"] for c in doc["checks"]] == ["http.chat"]
    connect = doc["hosts"]["trusted-1"]["tasks"][0]
    assert connect["name"] == "connect"
    assert connect["error"] == {
        "type": "TransportError",
        "message": "connection refused",
        "layer": "ssh",
    }
    assert [s["name"] for s in doc["stages"]] == ["verify", "connect"]


def test_schema_rejects_bad_documents_with_the_path(rollout: Any) -> None:
    _, doc, _ = rollout
    doc["hosts"]["dns-1"]["failed"] = "yes"
    del doc["run_id"]
    with pytest.raises(ReportSchemaError) as info:
        validate_report(doc)
    message = str(info.value)
    assert "$.hosts.dns-1.failed" in message or "$.hosts['dns-1'].failed" in message
    assert "'run_id' is a required property" in message


def test_schema_ok_true_requires_complete_run(rollout: Any) -> None:
    _, doc, _ = rollout
    doc["ok"] = True
    with pytest.raises(ReportSchemaError, match="stopped_at"):
        validate_report(doc)


def test_schema_knows_every_layer_and_status() -> None:
    check = report_schema()["$defs"]["check"]["properties"]
    assert set(check["layer"]["enum"]) == {str(layer) for layer in Layer}
    assert set(check["status"]["enum"]) == {str(status) for status in Status}


def test_history_lists_newest_first_and_prunes(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    ids = []
    for command in ("deploy", "verify", "dns"):
        report = RunRecorder(command).finish()
        save_history(report, runs, keep=2)
        ids.append(report.run_id)
    (runs / "notes.txt").write_text("not a run")
    entries = list_history(runs, limit=10)
    assert [e.run_id for e in entries] == [ids[2], ids[1]]
    assert [e.command for e in entries] == ["dns", "verify"]
    assert (runs / "notes.txt").exists()
    assert [e.run_id for e in list_history(runs, limit=1)] == [ids[2]]
    assert list_history(tmp_path / "missing") == []


def test_history_command(tmp_path: Path) -> None:
    from nornir_homehub.cli.common import AppContext
    from nornir_homehub.cli.history import history

    config = tmp_path / "config.yaml"
    config.write_text("homehub:\n  history_dir: past\n")
    run_rollout(tmp_path, history_dir=tmp_path / "past")
    ok = RunRecorder("status", dry_run=True).finish()
    save_history(ok, tmp_path / "past")

    result = CliRunner().invoke(history, [], obj=AppContext(config))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("STARTED (UTC)")
    assert ok.run_id in lines[1]
    assert "status" in lines[1]
    assert "dry run" in lines[1]
    assert "deploy" in lines[2]
    assert "failed" in lines[2]
    assert "stopped at verify" in lines[2]

    result = CliRunner().invoke(history, ["--json", "--limit", "1"], obj=AppContext(config))
    assert result.exit_code == 0, result.output
    runs = json.loads(result.output)["runs"]
    assert [r["run_id"] for r in runs] == [ok.run_id]
    assert runs[0]["status"] == "ok"


def test_notebook_views(rollout: Any) -> None:
    report, _, _ = rollout
    text = repr(report)
    assert text.startswith("<RunReport deploy FAILED")
    assert "stopped_at='verify'" in text
    assert "failed=2" in text
    html = report._repr_html_()
    assert "<table>" in html
    assert "<td>compute-1</td>" in html
    rows = report.task_rows()
    assert len(rows) == report.summary["tasks"]
    assert {"host", "stage", "task", "changed", "failed", "duration_s", "error"} <= set(rows[0])
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"pip install 'nornir_homehub\[pandas\]'"):
            report.to_dataframe()
    else:
        frame = report.to_dataframe()
        assert list(frame["host"]).count("compute-1") == 3
        assert len(report.to_dataframe("checks")) == 6


def test_check_lines_are_the_lines_check_and_verify_print(rollout: Any) -> None:
    report, _, _ = rollout
    lines = report.check_lines()
    assert "FAIL dns-1 dns.chat: chat.homehub.dk -> 10.2.0.9 (asked with key ********)" in lines
    remedy = lines[lines.index(next(x for x in lines if x.startswith("FAIL dns-1 dns.chat"))) + 1]
    assert remedy == "     remedy: reload the zone: rndc reload homehub.dk"
    # a passing check has no remedy line; `only` keeps the statuses asked for
    after_pass = lines[lines.index("PASS dns-1 ssh.reachable: connected in 0.1s") + 1]
    assert after_pass.startswith("FAIL dns-1 dns.chat")
    assert [x.split()[0] for x in report.check_lines(only=["fail"]) if x[0] != " "] == ["FAIL"]
    assert SECRET not in "\n".join(lines)


def test_change_lines_show_diffs_and_compose_plans(tmp_path: Path) -> None:
    def plan(task: Task) -> Result:
        result = {"action": "up", "reasons": ["compose.yaml changed"], "recreate": ["ollama"]}
        return Result(host=task.host, result=result, changed=True)

    nr = make_nornir(tmp_path)
    recorder = RunRecorder("deploy", dry_run=True)
    recorder.add_result("deploy", nr.filter(name="compute-1").run(plan))
    recorder.add_result("deploy", nr.filter(name="trusted-1").run(write_env))
    lines = change_lines(recorder.finish())
    assert lines[0] == "compute-1 plan: would compose up (recreate ollama): compose.yaml changed"
    assert lines[1] == "--- trusted-1 write_env ---"
    assert lines[2].splitlines()[-1] == f"+API_KEY={SECRET}"  # no redactor given to this run


def test_html_view_escapes_names() -> None:
    recorder = RunRecorder("verify")
    recorder.add_checks("verify", [Check("x", "<b>host", Layer.DNS, Status.PASS, "ok")])
    assert "&lt;b&gt;host" in recorder.finish()._repr_html_()
    assert "<b>host" not in recorder.finish()._repr_html_()


def test_finish_is_idempotent_and_write_env_changes(tmp_path: Path) -> None:
    nr = make_nornir(tmp_path).filter(name="trusted-1")
    recorder = RunRecorder("deploy")
    recorder.add_result("deploy", nr.run(write_env))
    first = recorder.finish()
    assert recorder.finish() is first
    assert first.changed_hosts == ["trusted-1"]


LONG_SECRET = "CutBoundarySecret0123456789abcdefXYZ"


@pytest.mark.parametrize("before", [MAX_TEXT - 5, MAX_TEXT - 20, MAX_TEXT - 35])
def test_fields_are_redacted_before_they_are_cut(tmp_path: Path, before: int) -> None:
    """A secret across the cut: neither its start nor its end may survive in the report."""
    redactor = SecretStore.from_mapping({"vault_cut": LONG_SECRET}).redactor()
    long_text = "x" * before + LONG_SECRET + "y" * 50

    def noisy(task: Task) -> Result:
        if task.host.name == "dns-1":
            raise TransportError(long_text)
        return Result(host=task.host, result={"stdout": long_text}, diff=long_text, changed=True)

    nr = make_nornir(tmp_path)
    recorder = RunRecorder("exec", redact=redactor.redact)
    with recording(recorder, report_path=tmp_path / "r.json"), recorder.stage("exec"):
        recorder.add_result("exec", nr.run(noisy))
        recorder.add_checks(
            "exec", [Check("c", "trusted-1", Layer.HTTP, Status.FAIL, long_text, long_text)]
        )
    text = (tmp_path / "r.json").read_text()
    for piece in (LONG_SECRET[:5], LONG_SECRET[-5:], LONG_SECRET[10:15]):
        assert piece not in text
    assert "more characters cut" in text


def test_files_are_0600_in_0700_folders(tmp_path: Path) -> None:
    report = RunRecorder("status").finish()
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    write_report(report, shared / "new" / "deeper" / "r.json")
    write_junit(report, shared / "j" / "r.xml")
    history = tmp_path / "runs"
    history.mkdir(mode=0o755)
    history.chmod(0o755)
    saved = save_history(report, history)

    def mode(p: Path) -> int:
        return p.stat().st_mode & 0o777

    assert mode(shared) == 0o755  # an existing folder is not changed
    assert mode(shared / "new") == mode(shared / "new" / "deeper") == mode(shared / "j") == 0o700
    assert mode(shared / "new" / "deeper" / "r.json") == mode(shared / "j" / "r.xml") == 0o600
    assert mode(history) == 0o700  # the history folder is ours alone
    assert mode(saved) == 0o600
