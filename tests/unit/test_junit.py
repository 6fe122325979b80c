"""JUnit XML: one testcase per host and task or check, failures CI can show."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from nornir.core.task import Result, Task
from nornir_runs import SECRET, make_nornir, redact, run_rollout

from nornir_homehub.report import RunRecorder, junit_xml, recording, write_junit


@pytest.fixture
def junit(tmp_path: Path) -> ET.Element:
    path = tmp_path / "ci" / "junit.xml"
    run_rollout(tmp_path, junit_path=path)
    assert SECRET not in path.read_text()
    return ET.parse(path).getroot()  # noqa: S314 - our own output


def _cases(root: ET.Element) -> dict[tuple[str, str], ET.Element]:
    return {(c.get("classname", ""), c.get("name", "")): c for c in root.iter("testcase")}


def test_suites_per_stage_with_totals(junit: ET.Element) -> None:
    assert junit.tag == "testsuites"
    suites = {s.get("name"): s for s in junit.iter("testsuite")}
    assert set(suites) == {"deploy.deploy", "deploy.verify"}
    # 9 task records in deploy; verify: 2 tasks, 6 checks and the stage gate
    assert suites["deploy.deploy"].get("tests") == "9"
    assert suites["deploy.verify"].get("tests") == "9"
    assert junit.get("tests") == "18"
    # deploy: compute-1's subtask and its parent; verify: dns.chat check and the gate
    assert junit.get("failures") == "4"
    assert junit.get("skipped") == "2"
    assert junit.get("errors") == "0"


def test_failed_task_and_check_are_failures(junit: ET.Element) -> None:
    cases = _cases(junit)
    failure = cases[("compute-1", "connect_fails")].find("failure")
    assert failure is not None
    assert failure.get("type") == "HostKeyError"
    assert failure.get("message") == "host key of compute-1 differs (token ********)"
    assert "[ssh]" in (failure.text or "")

    check = cases[("dns-1", "check dns.chat [dns]")].find("failure")
    assert check is not None
    assert "remedy: reload the zone" in (check.text or "")

    gate = cases[("deploy", "stage gate")].find("failure")
    assert gate is not None
    assert gate.get("message") == "dns-1 does not serve chat.homehub.dk"

    assert cases[("trusted-1", "read_version")].find("failure") is None
    assert cases[("trusted-1", "check dns.chat [dns]")].find("failure") is None
    skipped = cases[("dns-1", "check gpu.driver [gpu]")].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "not a GPU host"


def test_changed_task_carries_its_masked_diff(junit: ET.Element) -> None:
    out = _cases(junit)[("trusted-1", "write_env")].find("system-out")
    assert out is not None
    assert "+API_KEY=********" in (out.text or "")


def test_interrupted_run_is_an_error_and_control_chars_are_safe(tmp_path: Path) -> None:
    def coloured(task: Task) -> Result:
        return Result(host=task.host, diff="\x1b[31m-old\x1b[0m\x00\n+new", changed=True)

    nr = make_nornir(tmp_path).filter(name="dns-1")
    recorder = RunRecorder("dns", redact=redact)
    path = tmp_path / "j.xml"

    def run_then_ctrl_c() -> None:
        with recording(recorder, junit_path=path):
            recorder.add_result("zone", nr.run(coloured))
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_then_ctrl_c()
    root = ET.parse(path).getroot()  # noqa: S314 - our own output
    assert root.get("errors") == "1"
    error = _cases(root)[("dns", "run completed")].find("error")
    assert error is not None
    assert error.get("type") == "KeyboardInterrupt"
    out = _cases(root)[("dns-1", "coloured")].find("system-out")
    assert out is not None
    assert "-old" in (out.text or "")
    assert "\x1b" not in path.read_text()


def test_write_junit_returns_path_and_matches_text(tmp_path: Path) -> None:
    report = RunRecorder("status").finish()
    path = write_junit(report, tmp_path / "out.xml")
    assert path.read_text() == junit_xml(report)
    root = ET.fromstring(junit_xml(report))  # noqa: S314 - our own output
    assert root.get("tests") == "0"
    assert root.get("failures") == "0"
