"""Terminal output: live progress (TTY), plain lines (pipes), the end-of-run summary."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pytest
from nornir.core.task import Result, Task
from nornir_runs import SECRET, deploy_host, make_nornir, redact, run_rollout
from rich.console import Console

from nornir_homehub.progress import ProgressProcessor
from nornir_homehub.report import RunRecorder, RunReport, TimingProcessor
from nornir_homehub.report.summary import print_summary, render_summary


@pytest.fixture(autouse=True)
def _no_forced_colour(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def report(tmp_path: Path) -> RunReport:
    recorder = run_rollout(tmp_path)
    assert recorder.report is not None
    return recorder.report


def test_plain_lines_when_not_a_tty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stream = io.StringIO()
    timing = TimingProcessor()
    proc = ProgressProcessor(stream, enabled=True, redact=redact, timings=timing)
    make_nornir(tmp_path).with_processors([timing, proc]).run(deploy_host)
    text = stream.getvalue()
    assert "\x1b" not in text
    lines = text.splitlines()
    assert "trusted-1:   write_env changed" in "\n".join(lines)
    failed = [line for line in lines if "connect_fails FAILED" in line]
    assert len(failed) == 1
    assert failed[0].startswith("compute-1:")
    assert "[ssh] HostKeyError: host key of compute-1 differs (token ********)" in failed[0]
    # the seconds shown come from the timing processor that ran before the display
    assert re.search(r"\(\d+\.\ds\)$", failed[0]), failed[0]
    assert SECRET not in text
    assert capsys.readouterr().out == ""


def test_display_without_timing_shows_no_seconds(tmp_path: Path) -> None:
    stream = io.StringIO()
    proc = ProgressProcessor(stream, enabled=True, redact=redact)
    make_nornir(tmp_path).with_processors([proc]).run(deploy_host)
    failed = [line for line in stream.getvalue().splitlines() if "FAILED" in line]
    assert failed and not any(re.search(r"\(\d+\.\ds\)", line) for line in failed)


def test_disabled_progress_writes_nothing_the_timing_processor_still_times(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def nap(task: Task) -> Result:
        time.sleep(0.05)
        return Result(host=task.host)

    stream = io.StringIO()
    timing = TimingProcessor()
    proc = ProgressProcessor(stream, enabled=False, timings=timing)
    result = make_nornir(tmp_path).with_processors([timing, proc]).run(nap)
    assert stream.getvalue() == ""
    assert capsys.readouterr().out == ""
    recorder = RunRecorder("nap")
    recorder.add_result("nap", result, timing)
    durations = [t.duration_s for h in recorder.finish().hosts.values() for t in h.tasks]
    assert len(durations) == 3
    assert all(d is not None and 0.05 <= d < 5 for d in durations)


def test_the_display_processor_times_nothing(tmp_path: Path) -> None:
    # Timing is the timing processor's job alone: a report fed by the display has no durations.
    proc = ProgressProcessor(io.StringIO(), enabled=True)
    result = make_nornir(tmp_path).with_processors([proc]).run(deploy_host)
    recorder = RunRecorder("deploy")
    recorder.add_result("deploy", result)
    durations = [t.duration_s for h in recorder.finish().hosts.values() for t in h.tasks]
    assert durations and all(d is None for d in durations)


def test_live_progress_on_a_tty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120)
    timing = TimingProcessor()
    proc = ProgressProcessor(console, enabled=True, redact=redact, timings=timing)
    assert proc.live
    make_nornir(tmp_path).with_processors([timing, proc]).run(deploy_host)
    text = buffer.getvalue()
    assert "\x1b[" in text
    for host in ("trusted-1", "compute-1", "dns-1"):
        assert host in text
    assert "HostKeyError" in text
    assert SECRET not in text
    assert capsys.readouterr().out == ""


def test_summary_plain_text(report: RunReport) -> None:
    text = render_summary(report)
    assert "\x1b" not in text
    assert text.splitlines()[0].startswith("deploy FAILED")
    assert "stopped at stage verify: dns-1 does not serve chat.homehub.dk" in text
    rows = {line.split("|")[0].strip(): line for line in text.splitlines() if "|" in line}
    assert [c.strip() for c in rows["host"].split("|")] == [
        "host",
        "ok",
        "changed",
        "failed",
        "checks",
        "status",
    ]
    assert [c.strip() for c in rows["trusted-1"].split("|")] == [
        "trusted-1",
        "3",
        "1",
        "0",
        "1 pass, 1 warn, 1 skip",
        "ok",
    ]
    assert [c.strip() for c in rows["compute-1"].split("|")][1:4] == ["1", "0", "2"]
    assert rows["dns-1"].rstrip().endswith("FAILED")
    # the failed subtask is listed with host and layer; its parent is not repeated
    assert "compute-1 [ssh] deploy/connect_fails: HostKeyError:" in text
    assert "deploy/deploy_host" not in text
    assert "FAIL dns-1 [dns] dns.chat: chat.homehub.dk -> 10.2.0.9" in text
    assert "WARN trusted-1 [dns] dns.chat" in text
    assert "remedy: reload the zone: rndc reload homehub.dk" in text
    assert "gpu.driver" not in text
    assert SECRET not in text


def test_summary_colour_only_when_asked(report: RunReport) -> None:
    assert "\x1b[" in render_summary(report, color=True)
    stream = io.StringIO()
    print_summary(report, stream)
    assert stream.getvalue() == render_summary(report)


def test_summary_of_an_ok_dry_run() -> None:
    report = RunRecorder("deploy", dry_run=True).finish()
    text = render_summary(report)
    assert text.splitlines()[0].startswith("deploy OK")
    assert "dry run: nothing was changed" in text
    assert "Failed tasks" not in text
