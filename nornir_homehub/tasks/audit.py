"""The Nornir tasks of the audit log: append this run's line on a host, read a host's log."""

from __future__ import annotations

from collections.abc import Mapping

from nornir.core.task import Result, Task

from nornir_homehub.connection import host_connection
from nornir_homehub.facts.audit import (
    AuditEntry,
    append_audit_command,
    parse_audit,
    read_audit_command,
)
from nornir_homehub.tasks.hostlock import homehub_root


def append_audit(task: Task, *, entries: Mapping[str, AuditEntry]) -> Result:
    """Append the host's entry (when ``entries`` has one) to its audit log, in one write.

    Returns:
        Result with ``changed`` True when a line was appended.
    """
    entry = entries.get(task.host.name)
    if entry is None:
        return Result(host=task.host, changed=False)
    conn = host_connection(task)
    conn.run(append_audit_command(homehub_root(task), entry), timeout=30, check=True)
    return Result(host=task.host, result=entry.to_dict(), changed=True)


def read_audit(task: Task) -> Result:
    """Read the host's whole audit log.

    Returns:
        Result with ``result`` = the host's `AuditEntry` tuple, oldest first.
    """
    conn = host_connection(task)
    res = conn.run(read_audit_command(homehub_root(task)), timeout=60, check=True)
    return Result(host=task.host, result=parse_audit(task.host.name, res.stdout))
