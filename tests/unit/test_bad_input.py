"""Every bad input gets a clear error, its exit code, before any host is touched.

One harness runs every case of tests/unit/cases/bad_input/ (see bad_input.py for the format)
through the real CLI, in process with click's CliRunner and, for the cases marked
``subprocess``, as a real ``python -m nornir_homehub`` process. The hosts point at a closed
loopback port and every socket connect or name lookup is refused and recorded, so a bad input
that wrongly reaches for a host fails its case even when the CLI handles the refusal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bad_input import (
    CASES,
    Outcome,
    apply_edits,
    build_template,
    load_case,
    run_in_process,
    run_subprocess,
    snapshot,
)

ALL = sorted(CASES.glob("*.yaml"))


def _prepare(tmp_path: Path, case: dict[str, Any]) -> tuple[Path, Path, set[str]]:
    work = tmp_path / "work"
    root = work / "case"
    build_template(root)
    apply_edits(root, case.get("edits") or [])
    return work, root, snapshot(work)


def _check(case: dict[str, Any], out: Outcome, work: Path, before: set[str]) -> None:
    shown = f"exit {out.exit_code}\n--- stdout\n{out.stdout}\n--- stderr\n{out.stderr}"
    assert out.connects == [], f"a connection was attempted: {out.connects}\n{shown}"
    assert "Traceback" not in out.stdout + out.stderr, shown
    assert out.exit_code == case["exit"], shown
    for fragment in case["expect"]:
        assert str(fragment) in out.stderr, f"missing {fragment!r}\n{shown}"
    allowed = [str(Path("case") / w) for w in case.get("writes") or []]
    created = sorted(snapshot(work) - before)
    unexpected = [c for c in created if not any(c == a or c.startswith(a + "/") for a in allowed)]
    assert unexpected == [], f"files written outside what was asked for: {unexpected}\n{shown}"


def test_there_are_enough_cases() -> None:
    assert len(ALL) >= 80


@pytest.mark.parametrize("path", ALL, ids=[p.stem for p in ALL])
def test_bad_input(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = load_case(path)
    work, root, before = _prepare(tmp_path, case)
    _check(case, run_in_process(case, root, monkeypatch), work, before)


SUBPROCESS = [p for p in ALL if load_case(p).get("subprocess")]


@pytest.mark.parametrize("path", SUBPROCESS, ids=[p.stem for p in SUBPROCESS])
def test_bad_input_as_a_subprocess(path: Path, tmp_path: Path) -> None:
    case = load_case(path)
    work, root, before = _prepare(tmp_path, case)
    _check(case, run_subprocess(case, root, tmp_path / "connects.log"), work, before)


def test_the_template_is_valid_and_lists_its_hosts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = {"argv": ["inventory"], "exit": 0, "expect": []}
    work, root, before = _prepare(tmp_path, case)
    out = run_in_process(case, root, monkeypatch)
    assert out.exit_code == 0, out.stderr
    assert [line.split()[0] for line in out.stdout.splitlines()[1:]] == [
        "trusted",
        "compute",
        "dns",
    ]
    _check(case, out, work, before)


@pytest.mark.parametrize("runner", ["in-process", "subprocess"])
def test_the_guard_sees_a_command_that_reaches_for_a_host(
    runner: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A valid exec on the template does try to connect: the harness must notice, so a bad
    # input that slips through to a host fails its case.
    case = {"argv": ["exec", "--filter", "name=dns", "--", "true"], "exit": 1, "expect": []}
    _, root, _ = _prepare(tmp_path, case)
    if runner == "in-process":
        out = run_in_process(case, root, monkeypatch)
    else:
        out = run_subprocess(case, root, tmp_path / "connects.log")
    assert out.exit_code == 1
    assert out.connects, out.stderr
