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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Unpack

from nornir_homehub.errors import LockHeld
from nornir_homehub.facts.hostlock import LockHolder
from nornir_homehub.plan.hostlock import LockState
from nornir_homehub.report.clean import iso, utc_now

if TYPE_CHECKING:
    from nornir.core import Nornir
    from nornir.core.task import AggregatedResult

    from nornir_homehub.config import Settings
    from nornir_homehub.engine import RunParams
    from nornir_homehub.report import RunRecorder


def controller_user() -> str:
    """``user@controller`` of this process."""
    return f"{getpass.getuser()}@{socket.gethostname()}"


class HostLocks:
    """The deploy locks of one run: each host locked before the run first touches it.

    A runbook that must hold every host before its first change (``deploy``) locks them all
    up front (`RunContext.lock`); any other run's stage locks its own hosts first. Every lock
    is released at the end of the run.
    """

    def __init__(self, nr: Nornir, recorder: RunRecorder, command: str, *, wait: float) -> None:
        self.nr = nr
        self.recorder = recorder
        self.command = " ".join(recorder.argv) or command
        self.wait = wait
        self.taken: list[str] = []
        self.tried: set[str] = set()
        self.refused = False
        self.holder = LockHolder(
            user=getpass.getuser(),
            controller=socket.gethostname(),
            pid=os.getpid(),
            started=iso(utc_now()),
            command=self.command,
            run_id=recorder.run_id,
        )

    def take(self, nr: Nornir | None = None) -> None:
        """Lock the hosts of ``nr`` (default: every host of the run) not tried before.

        Raises:
            LockHeld: a host's lock is held by another run (the locks taken are released by
                `finish`); the message names each holder.
        """
        from nornir_homehub.tasks.hostlock import take_lock

        todo = sorted(set((nr or self.nr).inventory.hosts) - self.tried)
        if not todo or self.refused:
            return
        self.tried.update(todo)
        some = self.nr.filter(filter_func=lambda h: h.name in todo)
        agg = some.run(task=take_lock, name="deploy lock", holder=self.holder, wait=self.wait)
        got = sorted(h for h in agg if not agg[h].failed)
        held = _held(agg)
        if held and got:
            # Two runs that start together may each win some hosts: both give theirs back and
            # take them again one by one in name order, so that the first host decides.
            self._release(got)
            got = []
            for name in todo:
                if name not in held and agg[name].failed:
                    continue  # unreachable: fails in its own stage, as before
                one = self.nr.filter(name=name).run(
                    task=take_lock,
                    name="deploy lock",
                    holder=self.holder,
                    wait=max(self.wait, 3.0),
                )
                held = _held(one)
                if held:
                    break
                got.append(name)
        self.taken += got
        if held:
            self.refused = True
            raise LockHeld("deploy lock held, nothing changed: " + "; ".join(held.values()))

    def _release(self, hosts: list[str]) -> None:
        from nornir_homehub.tasks.hostlock import release_lock

        mine = self.nr.filter(filter_func=lambda h: h.name in hosts)
        mine.run(task=release_lock, name="release deploy lock", run_id=self.recorder.run_id)

    def finish(
        self, results: Sequence[tuple[str, AggregatedResult]], error: BaseException | None
    ) -> None:
        """Append each locked host's audit line (not for a refused run), release its lock.

        The locks are released whatever happens to the audit lines. A host that cannot be
        reached any more keeps its lock, reported stale later (its process is gone).
        """
        import logging

        from nornir_homehub.audit import audit_entries
        from nornir_homehub.tasks.audit import append_audit

        if not self.taken:
            return
        taken = list(self.taken)
        try:
            if not self.refused:
                user = controller_user()
                entries = audit_entries(self.recorder, user, results, error, hosts=taken)
                mine = self.nr.filter(filter_func=lambda h: h.name in taken)
                mine.run(task=append_audit, name="audit log", entries=entries)
        except Exception:  # the audit must never keep a lock held
            logging.getLogger(__name__).exception("audit lines not written")
        finally:
            self._release(taken)


def _held(agg: AggregatedResult) -> dict[str, str]:
    """Host -> why its lock was not taken, for each host that answered (not a transport error).

    A host that cannot be reached is not locked and fails in its own stage.
    """
    from nornir_homehub.errors import TransportError

    out = {}
    for h in sorted(agg.failed_hosts):
        exc = next((r.exception for r in agg[h] if r.exception is not None), None)
        if not isinstance(exc, TransportError):
            out[h] = str(exc) if exc is not None else f"{h}: the deploy lock was not taken"
    return out


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
