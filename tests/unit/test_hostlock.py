"""The deploy lock's and the audit log's shell commands, run for real by the local shell.

What a host does with them: of two runs that take the lock at once exactly one gets it, the
other is told who holds it; only the run that holds it releases it; each audit append adds
one whole line. Staleness (`plan_lock_state`) is pure and judged on data.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nornir_homehub.codes import EXIT_LOCK_HELD
from nornir_homehub.connection.local import HomehubLocal
from nornir_homehub.facts.audit import (
    AuditEntry,
    append_audit_command,
    parse_audit,
    read_audit_command,
)
from nornir_homehub.facts.hostlock import (
    LockHolder,
    parse_lock_holder,
    parse_lock_status,
    read_lock_command,
    release_lock_command,
    take_lock_command,
)
from nornir_homehub.plan.hostlock import plan_lock_state


def sh(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=False)


def holder(run_id: str, pid: int = 4242, started: str = "2026-12-01T13:00:00Z") -> LockHolder:
    return LockHolder("root", "ctl", pid, started, "deploy --no-verify", run_id)


def test_two_takes_at_once_exactly_one_wins_and_the_other_names_it(tmp_path: Path) -> None:
    root = str(tmp_path / "hh")
    procs = [
        subprocess.Popen(
            ["sh", "-c", take_lock_command(root, holder(f"run{i}"))],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outs = [(p.communicate(timeout=30)[0], p.returncode) for p in procs]
    codes = sorted(code for _, code in outs)
    assert codes == [0, EXIT_LOCK_HELD]
    winner = next(i for i, (_, code) in enumerate(outs) if code == 0)
    loser_out = next(out for out, code in outs if code != 0)
    told = parse_lock_holder(loser_out)
    assert told is not None and told.run_id == f"run{winner}"
    held, on_host = parse_lock_status(sh(read_lock_command(root)).stdout)
    assert held and on_host == holder(f"run{winner}")


def test_only_the_holder_releases_it_and_force_breaks_any(tmp_path: Path) -> None:
    root = str(tmp_path / "hh")
    assert sh(take_lock_command(root, holder("mine"))).returncode == 0
    other = sh(release_lock_command(root, "someone-else"))
    assert other.returncode == EXIT_LOCK_HELD
    assert (tmp_path / "hh" / "lock" / "holder.json").is_file()
    assert sh(release_lock_command(root, "mine")).returncode == 0
    assert not (tmp_path / "hh" / "lock").exists()
    assert parse_lock_status(sh(read_lock_command(root)).stdout) == (False, None)
    # Released twice (a retried finish): nothing to do, no error.
    assert sh(release_lock_command(root, "mine")).returncode == 0
    assert sh(take_lock_command(root, holder("stale"))).returncode == 0
    assert sh(release_lock_command(root, None)).returncode == 0
    assert not (tmp_path / "hh" / "lock").exists()


def test_audit_appends_whole_lines_and_never_rewrites(tmp_path: Path) -> None:
    root = str(tmp_path / "hh")
    first = AuditEntry(
        "h", "2026-12-01T13:00:00Z", "root@ctl", "deploy", "r1", "ok", {"qdrant": {}}
    )
    second = AuditEntry("h", "2026-12-01T13:01:00Z", "root@ctl", "prune", "r2", "failed")
    assert sh(append_audit_command(root, first)).returncode == 0
    before = (tmp_path / "hh" / "audit.jsonl").read_bytes()
    assert sh(append_audit_command(root, second)).returncode == 0
    after = (tmp_path / "hh" / "audit.jsonl").read_bytes()
    assert after.startswith(before) and after.count(b"\n") == 2
    assert (tmp_path / "hh" / "audit.jsonl").stat().st_mode & 0o777 == 0o600
    assert parse_audit("h", sh(read_audit_command(root)).stdout) == (first, second)


NOW = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("who", "controller", "alive", "ttl", "stale"),
    [
        # Same controller, process gone: stale, whatever its age.
        (holder("a", pid=99, started="2026-12-01T13:59:00Z"), "ctl", False, 3600, "99 is gone"),
        # Same controller, process alive and young: held.
        (holder("b", pid=99, started="2026-12-01T13:59:00Z"), "ctl", True, 3600, ""),
        # Another controller: its PIDs are not visible here, so only the age counts.
        (holder("c", pid=99, started="2026-12-01T13:59:00Z"), "other", False, 3600, ""),
        (holder("d", pid=99, started="2026-12-01T12:00:00Z"), "other", False, 3600, "lock_ttl"),
        # No readable start time: judged by PID only.
        (holder("e", pid=99, started="yesterday"), "other", False, 60, ""),
    ],
)
def test_stale_lock_is_judged_by_pid_on_this_controller_or_by_age(
    who: LockHolder, controller: str, alive: bool, ttl: float, stale: str
) -> None:
    state = plan_lock_state(
        "trusted", True, who, now=NOW, ttl=ttl, controller=controller, pid_alive=lambda _: alive
    )
    assert state.held
    assert (stale in state.stale) if stale else state.stale == ""
    assert ("STALE" in state.describe()) == bool(stale)
    assert who.run_id in state.describe()
    # Only a holder provably gone (this controller, its process ended) may be taken over.
    assert state.dead_holder == ("is gone" in stale)


def test_audit_filters_by_time_key_and_command_substring() -> None:
    from nornir_homehub.audit import entry_matches, parse_since, parse_terms

    now = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    old = AuditEntry("dns", "2026-12-01T12:00:00Z", "root@ctl", "deploy --no-verify", "r1", "ok")
    new = AuditEntry(
        "trusted",
        "2026-12-01T13:50:00Z",
        "ops@lap",
        "rollback litellm",
        "r2",
        "ok",
        {"litellm": {}},
    )
    since = parse_since("30m", now)
    assert [entry_matches(e, {}, since) for e in (old, new)] == [False, True]
    assert parse_since("2026-12-01T13:00:00", now) == datetime(2026, 12, 1, 13, 0, tzinfo=UTC)
    terms = parse_terms(["command=rollback", "stack=litellm", "user=ops@lap"])
    assert [entry_matches(e, terms, None) for e in (old, new)] == [False, True]
    assert entry_matches(new, parse_terms(["host=trusted", "result=ok"]), None)
    assert not entry_matches(new, parse_terms(["result=failed"]), None)


class LocalShell(HomehubLocal):
    """The local connection, named, with a slot for Nornir (commands run by the real `sh`)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name, self.command_timeout, self.env_keep = name, 30.0, ()

    @property
    def connection(self) -> LocalShell:
        return self


def test_the_audit_line_and_the_lock_release_are_one_round_trip(tmp_path: Path) -> None:
    from nornir_homehub.tasks.audit import append_audit_and_release
    from nornir_homehub.testing import scripted_nornir

    root = str(tmp_path / "hh")
    conn = LocalShell("h")
    nr = scripted_nornir({"h": ({"homehub_root": root}, conn)})  # type: ignore[dict-item]
    assert sh(take_lock_command(root, holder("r1"))).returncode == 0
    entry = AuditEntry("h", "2026-12-01T13:00:00Z", "root@ctl", "deploy", "r1", "ok")
    agg = nr.run(task=append_audit_and_release, entries={"h": entry}, run_id="r1")
    assert not agg.failed and agg["h"][0].changed
    assert conn.commands_run == 1
    assert parse_audit("h", sh(read_audit_command(root)).stdout) == (entry,)
    assert not (tmp_path / "hh" / "lock").exists()
    # The line cannot be written (the log is a folder): the lock is released all the same.
    assert sh(take_lock_command(root, holder("r2"))).returncode == 0
    (tmp_path / "hh" / "audit.jsonl").unlink()
    (tmp_path / "hh" / "audit.jsonl").mkdir()
    agg = nr.run(task=append_audit_and_release, entries={"h": entry}, run_id="r2")
    assert agg.failed and "audit line not appended" in str(agg["h"][0].exception)
    assert not (tmp_path / "hh" / "lock").exists()
    # Another run's lock stays.
    assert sh(take_lock_command(root, holder("other"))).returncode == 0
    nr.run(task=append_audit_and_release, entries=None, run_id="r3")
    assert (tmp_path / "hh" / "lock").is_dir()
