"""The deploy lock of a mutating run, and ``lock status`` / ``lock release``.

`HostLocks` is what `engine.execute` gives a locking run (deploy, rollback, prune, ``run``):
before its first stage every host of the run is locked (`tasks.hostlock.take_lock`); a lock
another run holds refuses the whole run with `LockHeld` (exit 2) before anything changed,
naming the holder. At the end, also on failure and on Ctrl-C, each locked host gets its audit
line (`audit.audit_entries`) and its lock back. A host that cannot be reached when the locks
are taken is not locked and fails in its own stage, as before.
"""

from __future__ import annotations

import getpass
import os
import socket
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Unpack

from nornir_homehub.errors import LockHeld
from nornir_homehub.facts.hostlock import LockHolder
from nornir_homehub.plan.hostlock import LockState
from nornir_homehub.report.clean import iso, utc_now

if TYPE_CHECKING:
    from nornir.core import Nornir
    from nornir.core.task import AggregatedResult, Task

    from nornir_homehub.config import Settings
    from nornir_homehub.connection import HostConnection
    from nornir_homehub.engine import RunParams
    from nornir_homehub.report import RunRecorder


def controller_user() -> str:
    """``user@controller`` of this process."""
    return f"{getpass.getuser()}@{socket.gethostname()}"


_ACTIVE: list[HostLocks] = []  # the locking run in progress in this process (one at a time)


def ensure_locked(task: Task, conn: HostConnection) -> None:
    """Lock the task's host before its first command, when a locking run is in progress.

    Called by `connection.host_connection`, so a host is locked exactly when a run first
    touches it, and a host a run never contacts is never locked.

    Raises:
        LockHeld: another run holds the host's lock.
    """
    if _ACTIVE:
        _ACTIVE[-1].ensure(task, conn)


class HostLocks:
    """The deploy locks of one run: each host locked before the run first touches it.

    A runbook that must hold every host before its first change (``deploy``, ``rollback``)
    locks them all up front (`take`): the first host in name order alone, then the others at
    once. Of two runs over the same hosts that start together, the one that gets the first
    host gets them all, the other exits 2 holding none; two runs over different hosts that
    overlap can both be refused, never both proceed.
    Any other run locks a host when it first connects to it (`ensure_locked`). Every lock is
    released at the end of the run (`finish`), after its audit line.
    """

    def __init__(self, nr: Nornir, recorder: RunRecorder, command: str, *, wait: float) -> None:
        self.nr = nr
        self.recorder = recorder
        self.command = " ".join(recorder.argv) or command
        self.wait = wait
        self.taken: list[str] = []
        self.tried: set[str] = set()
        self.held: dict[str, str] = {}  # host -> why its lock was not taken
        self.refused = False  # refused before any change: no audit line
        self.broken: list[LockState] = []  # dead runs' locks taken over (reported at the end)
        self._mutex = threading.Lock()
        self.holder = LockHolder(
            user=getpass.getuser(),
            controller=socket.gethostname(),
            pid=os.getpid(),
            started=iso(utc_now()),
            command=self.command,
            run_id=recorder.run_id,
        )

    def __enter__(self) -> HostLocks:
        _ACTIVE.append(self)
        return self

    def __exit__(self, *_exc: object) -> None:
        _ACTIVE.remove(self)

    def ensure(self, task: Task, conn: HostConnection) -> None:
        """Take the host's lock once (later calls return, or raise again if it was held).

        Raises:
            LockHeld: another run holds it.
        """
        from nornir_homehub.tasks.hostlock import acquire

        name = task.host.name
        with self._mutex:
            if name in self.tried:
                if name in self.held:
                    raise LockHeld(self.held[name])
                return
            self.tried.add(name)
        try:
            broken = acquire(task, conn, self.holder, self.wait)
        except LockHeld as exc:
            with self._mutex:
                self.held[name] = str(exc)
            raise
        with self._mutex:
            self.taken.append(name)
        if broken is not None:
            self._report_broken(broken)

    def _report_broken(self, broken: LockState) -> None:
        """Say on stderr and in the report (a WARN check) whose dead lock this run took over."""
        from nornir_homehub.checks.model import Check, Layer, Status

        why = _taken_over(broken)
        print(f"warning: {why}", file=sys.stderr)
        remedy = "none if that run was killed: this run converges what it left half done"
        check = Check("lock.taken_over", broken.host, Layer.SSH, Status.WARN, why, remedy)
        self.recorder.add_checks("deploy lock", [check], "deploy lock")
        with self._mutex:
            self.broken.append(broken)

    def take(self, nr: Nornir | None = None) -> None:
        """Lock the hosts of ``nr`` (default: the run's): the first in name order, then the rest.

        A host that cannot be reached is not locked (it fails in its own stage, as before).

        Raises:
            LockHeld: a host's lock is held by another run; nothing was changed yet, so the
                run leaves no audit line (the locks it took are released by `finish`).
        """
        from nornir_homehub.tasks.hostlock import touch, touch_first

        names = [n for n in sorted((nr or self.nr).inventory.hosts) if n not in self.tried]
        # The first host decides between runs over the same hosts; the rest in parallel, so
        # locking costs one round trip per host at once, not one after another. The others'
        # connections open while the first is locked.
        if names:
            self.nr.filter(filter_func=lambda h: h.name in names).run(
                task=touch_first, name="deploy lock", first=names[0], on_failed=True
            )
        rest = set(names[1:])
        if rest and not self.held:
            self.nr.filter(filter_func=lambda h: h.name in rest).run(
                task=touch, name="deploy lock", on_failed=True
            )
        if self.held:
            self.refused = True
            self.check()

    def check(self) -> None:
        """Raise `LockHeld` naming every holder when a host's lock was held by another run."""
        if self.held:
            held = "; ".join(self.held[h] for h in sorted(self.held))
            raise LockHeld(f"deploy lock held, nothing changed there: {held}")

    def finish(
        self, results: Sequence[tuple[str, AggregatedResult]], error: BaseException | None
    ) -> None:
        """Append each locked host's audit line (not for a run refused up front), release.

        The locks are released whatever happens to the audit lines. A host that cannot be
        reached any more keeps its lock, reported stale later (its process is gone).
        """
        import logging

        from nornir_homehub.audit import audit_entries
        from nornir_homehub.tasks.audit import append_audit_and_release

        if not self.taken:
            return
        taken = list(self.taken)
        entries = None
        try:
            if not self.refused:
                user = controller_user()
                entries = audit_entries(self.recorder, user, results, error, hosts=taken)
        except Exception:  # the audit must never keep a lock held
            logging.getLogger(__name__).exception("audit lines not written")
        mine = self.nr.filter(filter_func=lambda h: h.name in taken)
        # One round trip per host: the line, then the lock (released whatever the line did).
        # on_failed: a host that failed in the run (its deploy) is exactly one to release.
        mine.run(
            task=append_audit_and_release,
            name="audit log, release deploy lock",
            entries=entries,
            run_id=self.recorder.run_id,
            on_failed=True,
        )


@dataclass(frozen=True)
class LockReport:
    """``lock status`` / ``lock release``: each host's lock, and the hosts that did not answer."""

    command: str
    locks: tuple[LockState, ...]
    released: tuple[str, ...] = ()
    errors: tuple[tuple[str, str], ...] = ()

    @property
    def ok(self) -> bool:
        """Every host answered (and every requested release happened)."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """``{"format", "command", "locks": [...], "released": [...], "errors": {host: why}}``."""
        return {
            "format": 1,
            "command": self.command,
            "locks": [s.to_dict() for s in self.locks],
            "released": list(self.released),
            "errors": dict(self.errors),
        }

    def lines(self) -> list[str]:
        """One line per host, then the errors."""
        out = [
            s.describe() + ("  -> released" if s.host in self.released else "") for s in self.locks
        ]
        return out + [f"{h}: {why}" for h, why in self.errors]


def lock_status(nr: Nornir, settings: Settings, **params: Unpack[RunParams]) -> LockReport:
    """Read every selected host's deploy lock (stale ones marked); changes nothing."""
    from nornir_homehub.tasks.hostlock import read_lock

    return _run("lock status", nr, settings, read_lock, {}, params)


def lock_release(
    nr: Nornir, settings: Settings, *, force: bool = False, **params: Unpack[RunParams]
) -> LockReport:
    """Break the selected hosts' locks: the stale ones, or every one with ``force``."""
    from nornir_homehub.tasks.hostlock import break_lock

    return _run("lock release", nr, settings, break_lock, {"force": force}, params)


def _run(
    title: str,
    nr: Nornir,
    settings: Settings,
    task: Any,
    kwargs: dict[str, Any],
    params: RunParams,
) -> LockReport:
    from nornir_homehub.engine import RunContext, execute
    from nornir_homehub.secrets import redact_all

    states: list[LockState] = []
    released: list[str] = []
    errors: list[tuple[str, str]] = []

    def body(nr_: Nornir, ctx: RunContext) -> None:
        agg = ctx.stage(title, nr_, task, gate=False, **kwargs)
        for host in sorted(agg):
            res = agg[host][0]
            if isinstance(res.result, LockState):
                states.append(res.result)
                if res.changed:
                    released.append(host)
            else:
                exc = res.exception
                errors.append((host, redact_all(f"{type(exc).__name__}: {exc}")))

    params.setdefault("progress", False)
    execute(title, nr, settings, body, **params)
    return LockReport(title, tuple(states), tuple(released), tuple(errors))


def _taken_over(broken: LockState) -> str:
    return f"took over the deploy lock of a run that is gone: {broken.describe()}"
