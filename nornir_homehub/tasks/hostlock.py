"""The Nornir tasks of the deploy lock: take it (optionally waiting), release it, read it, break it.

The commands and their parsers are in `facts.hostlock`; whether a lock is stale is
`plan.hostlock.plan_lock_state`.
"""

from __future__ import annotations

import os
import socket
import time
from typing import TYPE_CHECKING

from nornir.core.task import Result, Task

from nornir_homehub.codes import EXIT_LOCK_HELD
from nornir_homehub.connection import host_connection
from nornir_homehub.errors import LockHeld
from nornir_homehub.facts.hostlock import (
    DEFAULT_HOMEHUB_ROOT,
    LockHolder,
    parse_lock_holder,
    parse_lock_status,
    read_lock_command,
    release_lock_command,
    take_lock_command,
)
from nornir_homehub.plan.hostlock import DEFAULT_LOCK_TTL, LockState, plan_lock_state
from nornir_homehub.report.clean import utc_now

if TYPE_CHECKING:
    from nornir_homehub.connection import HostConnection


def homehub_root(task: Task) -> str:
    """The host's ``homehub_root`` (lock, audit log, releases)."""
    return str(task.host.get("homehub_root") or DEFAULT_HOMEHUB_ROOT)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this controller."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def judge(task: Task, held: bool, holder: LockHolder | None) -> LockState:
    """`plan_lock_state` for this host, this controller and now."""
    return plan_lock_state(
        task.host.name,
        held,
        holder,
        now=utc_now(),
        ttl=float(task.host.get("lock_ttl") or DEFAULT_LOCK_TTL),
        controller=socket.gethostname(),
        pid_alive=pid_alive,
    )


def acquire(
    task: Task, conn: HostConnection, holder: LockHolder, wait: float = 0.0
) -> LockState | None:
    """Take the host's deploy lock; with ``wait``, poll (every second) up to that many seconds.

    A lock whose holder is provably gone (taken on this controller by a process that no longer
    exists: a run that was killed) is broken and taken over, so that the next run after a
    killed one converges; the broken lock is returned for the run to report. Any other stale
    lock (older than ``lock_ttl``, from another controller whose processes are not visible
    here) is reported, not broken: ``lock release`` breaks it.

    Returns:
        The dead run's lock this run broke, or None.

    Raises:
        LockHeld: another run holds it; the message names the holder. Also when the host
            answers but the lock cannot be made (a read-only root).
    """
    root = homehub_root(task)
    deadline = time.monotonic() + max(wait, 0.0)
    broken: LockState | None = None
    while True:
        res = conn.run(take_lock_command(root, holder), timeout=30)
        if res.ok:
            return broken
        if res.exit_code != EXIT_LOCK_HELD:
            raise LockHeld(
                f"{task.host.name}: cannot take the deploy lock under {root}: "
                f"{(res.stderr or res.stdout).strip()[-300:] or f'exit {res.exit_code}'}"
            )
        dead = judge(task, True, parse_lock_holder(res.stdout))
        if broken is None and dead.holder is not None and dead.dead_holder:
            # Only that run's lock: one taken meanwhile by a live run stays (exit 75 here).
            conn.run(release_lock_command(root, dead.holder.run_id), timeout=30)
            broken = dead
            continue
        if time.monotonic() >= deadline:
            break
        time.sleep(1.0)
    state = judge(task, True, parse_lock_holder(res.stdout))
    waited = f" after waiting {wait:g} s" if wait > 0 else ""
    if state.stale:
        fix = (
            f"it is stale ({state.stale}): check nothing runs, then "
            f"`lock release --host {task.host.name} --force`"
        )
    else:
        fix = "wait for it to finish, or retry with --lock-wait SECONDS"
    raise LockHeld(f"{state.describe()}{waited}; {fix}")


def touch(task: Task) -> Result:
    """Open the host's connection, which locks the host in a locking run (`ensure_locked`)."""
    host_connection(task)
    return Result(host=task.host)


def touch_first(task: Task, *, first: str) -> Result:
    """Lock host ``first`` (`touch`); only open the connections of the others, side by side.

    The others are locked after ``first`` (`HostLocks.take`), but their SSH handshakes need
    not wait for it.
    """
    if task.host.name == first:
        return touch(task)
    from nornir_homehub.connection.plugins import preconnect

    preconnect(task)
    return Result(host=task.host)


def read_lock(task: Task) -> Result:
    """Read the host's lock (``lock status``).

    Returns:
        Result with ``result`` = `LockState`.
    """
    conn = host_connection(task)
    res = conn.run(read_lock_command(homehub_root(task)), timeout=30)
    held, holder = parse_lock_status(res.stdout)
    return Result(host=task.host, result=judge(task, held, holder))


def break_lock(task: Task, *, force: bool = False) -> Result:
    """Break the host's lock (``lock release``): a stale one, or any with ``force``.

    Returns:
        Result with ``result`` = the `LockState` before, ``changed`` True when one was removed.

    Raises:
        LockHeld: the lock is held and not stale, and ``force`` is not given.
    """
    conn = host_connection(task)
    root = homehub_root(task)
    held, holder = parse_lock_status(conn.run(read_lock_command(root), timeout=30).stdout)
    state = judge(task, held, holder)
    if not held:
        return Result(host=task.host, result=state, changed=False)
    if not state.stale and not force:
        raise LockHeld(f"{state.describe()}; not stale: add --force to break it anyway")
    conn.run(release_lock_command(root, None), timeout=30, check=True)
    return Result(host=task.host, result=state, changed=True)
