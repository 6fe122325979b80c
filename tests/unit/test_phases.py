"""Per-phase timings: the clock tasks record into, the report's ``phases``, the profile table."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from nornir_homehub.report import RunRecorder, RunReport, validate_report
from nornir_homehub.report import phases as ph
from nornir_homehub.report.phases import PhaseClock, phase, profile_table, timed
from nornir_homehub.tasks.exec import run_command
from nornir_homehub.testing import Command, ScriptedHost, scripted_nornir


@pytest.fixture
def ticks(monkeypatch: pytest.MonkeyPatch) -> None:
    """A monotonic clock that advances exactly 1 s per reading (no real time is measured)."""
    counter = itertools.count()
    monkeypatch.setattr(ph.time, "monotonic", lambda: float(next(counter)))


@pytest.mark.usefixtures("ticks")
def test_a_nested_phase_is_counted_once_for_the_inner_phase_only() -> None:
    clock = PhaseClock()
    # Readings: 0 verify starts, 1 connect starts (verify paused: 1 s), 2 connect ends (1 s),
    # 3 verify ends (1 s more).
    with clock.measure("trusted", "verify"), clock.measure("trusted", "connect"):
        pass
    assert clock.snapshot() == {"trusted": {"connect": 1.0, "verify": 2.0}}


@pytest.mark.usefixtures("ticks")
def test_repeated_phases_add_up_per_host_and_keep_the_known_order() -> None:
    clock = PhaseClock()
    for name in ("health", "upload", "upload", "my-own-phase", "connect"):
        with clock.measure("compute", name):
            pass
    with clock.measure("trusted", "upload"):
        pass
    snap = clock.snapshot()
    assert snap["compute"] == {"connect": 1.0, "upload": 2.0, "health": 1.0, "my-own-phase": 1.0}
    assert list(snap["compute"]) == ["connect", "upload", "health", "my-own-phase"]
    assert snap["trusted"] == {"upload": 1.0}


def test_phase_records_nothing_outside_a_run() -> None:
    with phase("trusted", "upload"):
        pass
    clock = PhaseClock()
    with ph.active(clock), phase("trusted", "upload"):
        pass
    with phase("trusted", "compose"):
        pass
    assert list(clock.snapshot()["trusted"]) == ["upload"]


def test_a_task_decorated_with_timed_records_its_host() -> None:
    hosts = {
        name: ({"role": name}, ScriptedHost(name, [Command("true")]))
        for name in ("trusted", "compute")
    }
    clock = PhaseClock()
    with ph.active(clock):
        agg = scripted_nornir(hosts).run(task=run_command, command="true")
    assert not agg.failed
    snap = clock.snapshot()
    assert set(snap) == {"trusted", "compute"}
    assert all(per["command"] >= 0 for per in snap.values())


def test_timed_takes_the_host_from_a_connection_argument() -> None:
    class Conn:
        name = "dns"

    @timed("facts")
    def gather(conn: Conn, extra: int) -> int:
        return extra * 2

    clock = PhaseClock()
    with ph.active(clock):
        assert gather(Conn(), 21) == 42
    assert list(clock.snapshot()) == ["dns"]


def _report(phases: dict[str, dict[str, float]] | None = None) -> RunReport:
    rec = RunRecorder("deploy", ["deploy"])
    for host, per in (phases or {}).items():
        for name, seconds in per.items():
            rec.phases.add(host, name, seconds)
    return rec.finish()


def test_the_report_keeps_the_phases_and_validates() -> None:
    report = _report({"trusted": {"connect": 0.2, "upload": 0.05}, "compute": {"facts": 0.1}})
    doc = report.to_dict()
    validate_report(doc)
    assert doc["phases"] == {"trusted": {"connect": 0.2, "upload": 0.05}, "compute": {"facts": 0.1}}
    assert RunReport.from_dict(doc).phases == doc["phases"]


def test_a_report_written_before_phases_existed_still_reads_and_validates() -> None:
    doc: dict[str, Any] = _report().to_dict()
    del doc["phases"]
    validate_report(doc)
    assert RunReport.from_dict(doc).phases == {}


def test_a_negative_phase_duration_does_not_validate() -> None:
    doc = _report({"trusted": {"connect": 0.2}}).to_dict()
    doc["phases"]["trusted"]["connect"] = -1
    with pytest.raises(Exception, match="phases"):
        validate_report(doc)


def test_the_profile_table_has_a_row_per_host_and_a_column_per_phase() -> None:
    table = profile_table(
        {"trusted": {"connect": 0.25, "compose": 1.5}, "compute": {"connect": 0.2, "health": 2.0}},
        wall_s=3.0,
    )
    lines = table.splitlines()
    assert lines[0].split() == ["host", "connect", "compose", "health", "sum"]
    # Slowest host first; a phase the host did not have is "-".
    assert lines[1].split() == ["compute", "0.200", "-", "2.000", "2.200"]
    assert lines[2].split() == ["trusted", "0.250", "1.500", "-", "1.750"]
    assert "wall time 3.000 s" in lines[3]


def test_the_profile_table_sums_the_hosts_beyond_the_limit() -> None:
    phases = {f"node{i:03d}": {"connect": 0.01 * i, "command": 0.01} for i in range(1, 201)}
    lines = profile_table(phases, wall_s=2.5, max_hosts=5).splitlines()
    assert len(lines) == 1 + 5 + 1 + 1
    assert lines[1].startswith("node200")
    assert lines[6].startswith("(195 more hosts, summed)")


def test_the_profile_table_says_when_nothing_was_recorded() -> None:
    assert "no phase was recorded" in profile_table({}, wall_s=0.5)
