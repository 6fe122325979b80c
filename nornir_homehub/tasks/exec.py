"""Ad-hoc shell commands on hosts (the ``exec`` command)."""

from __future__ import annotations

from nornir.core.task import Result, Task

from nornir_homehub.connection import host_connection
from nornir_homehub.report.phases import timed


@timed("command")
def run_command(task: Task, command: str, timeout: float | None = None) -> Result:
    """Run ``command`` on the host.

    Returns:
        Result with ``result`` = `CommandResult` (exit code, stdout, stderr), ``failed`` when the
        exit code is not 0, ``changed`` False (an ad-hoc command is not a managed change).
    """
    res = host_connection(task).run(command, timeout=timeout)
    return Result(host=task.host, result=res, failed=not res.ok, changed=False)
