"""The Nornir tasks of the audit log: append this run's line (and release the lock), read a log."""

from __future__ import annotations

from collections.abc import Mapping

from nornir.core.task import Result, Task

from nornir_homehub.connection import host_connection
from nornir_homehub.errors import TransportError
from nornir_homehub.facts.audit import (
    AuditEntry,
    append_audit_command,
    parse_audit,
    read_audit_command,
)
from nornir_homehub.facts.hostlock import release_lock_command
from nornir_homehub.tasks.hostlock import homehub_root


def append_audit_and_release(
    task: Task, *, entries: Mapping[str, AuditEntry] | None, run_id: str
) -> Result:
    """Append the host's audit line (one write), then release this run's lock: one round trip.

    The lock is released whatever happened to the line; a line that could not be appended
    fails the task afterwards. ``entries`` None: only the lock (a run refused up front, or one
    whose lines could not be built).

    Returns:
        Result with ``changed`` True when a line was appended.

    Raises:
        TransportError: the line could not be appended (the lock was released all the same).
    """
    conn = host_connection(task)
    root = homehub_root(task)
    entry = (entries or {}).get(task.host.name)
    commands = {"release": release_lock_command(root, run_id)}
    if entry is not None:
        commands = {"audit": append_audit_command(root, entry), **commands}
    results = conn.run_batch(commands, timeout=30)
    audit = results.get("audit")
    if audit is not None and not audit.ok:
        raise TransportError(
            f"{task.host.name}: audit line not appended (exit {audit.exit_code}): "
            f"{(audit.stderr or audit.stdout).strip()[-300:] or '(no output)'}; lock released"
        )
    return Result(host=task.host, result=entry.to_dict() if entry else None, changed=bool(entry))


def read_audit(task: Task) -> Result:
    """Read the host's whole audit log.

    Returns:
        Result with ``result`` = the host's `AuditEntry` tuple, oldest first.
    """
    conn = host_connection(task)
    res = conn.run(read_audit_command(homehub_root(task)), timeout=60, check=True)
    return Result(host=task.host, result=parse_audit(task.host.name, res.stdout))
