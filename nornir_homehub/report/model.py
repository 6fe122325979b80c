"""The report format: the records of a run and `RunReport`, the versioned JSON document.

`RunReport.to_dict` is the document of schema ``schema/report.v1.json`` (see
`nornir_homehub.report.schema`); `RunReport.from_dict` reads it back. The records are frozen:
a `RunRecorder` builds them while a command runs. How a report looks in a notebook or a table
is in `nornir_homehub.report.views`.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from nornir_homehub.checks.model import Check, Layer, Status
from nornir_homehub.errors import ReportError
from nornir_homehub.records import as_dict
from nornir_homehub.report import views

SCHEMA_VERSION = "1"


@dataclass(frozen=True)
class ErrorRecord:
    """Why a task or a run failed: the exception type and message, never a traceback.

    Attributes:
        type: the exception class name (``HostKeyError``) or ``TaskFailed`` when a task
            returned a failed result without raising.
        message: the exception message, redacted.
        layer: the layer that failed when known (``ssh`` for transport errors).

    """

    type: str
    message: str
    layer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"type": self.type, "message": self.message, "layer": self.layer}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ErrorRecord:
        """Build from `to_dict` output."""
        return cls(type=data["type"], message=data["message"], layer=data.get("layer"))


@dataclass(frozen=True)
class TaskRecord:
    """One Nornir result of one host: a task or one of its subtasks.

    Attributes:
        name: the task's name.
        stage: the stage of the run it belongs to.
        level: 0 for the task ``nr.run`` started, 1 for its subtasks, and so on.
        changed: the task changed something on the host.
        failed: the task failed.
        duration_s: seconds the task took on this host (None when not timed).
        diff: what changed or would change, redacted.
        result: the task's structured result (None when it failed with an exception).
        error: why it failed.

    """

    name: str
    stage: str
    level: int = 0
    changed: bool = False
    failed: bool = False
    duration_s: float | None = None
    diff: str = ""
    result: Any = None
    error: ErrorRecord | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "name": self.name,
            "stage": self.stage,
            "level": self.level,
            "changed": self.changed,
            "failed": self.failed,
            "duration_s": self.duration_s,
            "diff": self.diff,
            "result": self.result,
            "error": self.error.to_dict() if self.error else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskRecord:
        """Build from `to_dict` output."""
        error = data.get("error")
        return cls(
            name=data["name"],
            stage=data["stage"],
            level=data.get("level", 0),
            changed=data["changed"],
            failed=data["failed"],
            duration_s=data.get("duration_s"),
            diff=data.get("diff", ""),
            result=data.get("result"),
            error=ErrorRecord.from_dict(error) if error else None,
        )


@dataclass(frozen=True)
class CheckRecord(Check):
    """A `Check` as reported: the check plus the stage and task that produced it."""

    stage: str = ""
    task: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {**super().to_dict(), "stage": self.stage, "task": self.task}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckRecord:
        """Build from `to_dict` output."""
        return cls(
            name=data["name"],
            host=data["host"],
            layer=Layer(data["layer"]),
            status=Status(data["status"]),
            evidence=data["evidence"],
            remedy=data.get("remedy", ""),
            data=dict(data.get("data") or {}),
            stage=data.get("stage", ""),
            task=data.get("task"),
        )


@dataclass(frozen=True)
class HostRecord:
    """Everything one host did in a run.

    Attributes:
        failed: a task failed on the host or a check of the host failed.
        changed: a task changed something on the host.
        tasks: the host's task records in the order they ran.

    """

    failed: bool
    changed: bool
    tasks: tuple[TaskRecord, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return as_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HostRecord:
        """Build from `to_dict` output."""
        return cls(
            failed=data["failed"],
            changed=data["changed"],
            tasks=tuple(TaskRecord.from_dict(t) for t in data.get("tasks", ())),
        )


@dataclass(frozen=True)
class StopRecord:
    """The stage that stopped a run (a failed gate) and why."""

    stage: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return as_dict(self)


@dataclass(frozen=True)
class StageRecord:
    """One stage of a run (``dns``, ``compute``, ``trusted``, ``verify``...).

    Attributes:
        name: the stage's name.
        ok: nothing failed in the stage and it did not stop the run.
        started: ISO 8601 UTC time the stage began.
        finished: ISO 8601 UTC time of its last result.
        duration_s: seconds between the two.
        hosts: hosts with a result or check in the stage.
        failed_hosts: hosts with a failed task or check in the stage.
        changed_hosts: hosts changed in the stage.
        stopped: the stage stopped the run (see `RunReport.stopped_at`).

    """

    name: str
    ok: bool
    started: str
    finished: str
    duration_s: float
    hosts: tuple[str, ...] = ()
    failed_hosts: tuple[str, ...] = ()
    changed_hosts: tuple[str, ...] = ()
    stopped: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "name": self.name,
            "ok": self.ok,
            "started": self.started,
            "finished": self.finished,
            "duration_s": self.duration_s,
            "hosts": list(self.hosts),
            "failed_hosts": list(self.failed_hosts),
            "changed_hosts": list(self.changed_hosts),
            "stopped": self.stopped,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StageRecord:
        """Build from `to_dict` output."""
        return cls(
            name=data["name"],
            ok=data["ok"],
            started=data["started"],
            finished=data["finished"],
            duration_s=data["duration_s"],
            hosts=tuple(data.get("hosts", ())),
            failed_hosts=tuple(data.get("failed_hosts", ())),
            changed_hosts=tuple(data.get("changed_hosts", ())),
            stopped=data.get("stopped", False),
        )


@dataclass(frozen=True)
class RunReport:
    """The versioned result of one command run (JSON schema ``schema/report.v1.json``).

    ``ok`` is true only when the run completed, no stage stopped it, and no task or check
    failed; the CLI exits 0 exactly when ``ok`` is true. ``phases`` is where each host's time
    went (host -> phase -> seconds, `nornir_homehub.report.phases`); a report written before
    phases existed reads back with none.
    """

    run_id: str
    command: str
    argv: tuple[str, ...]
    started: str
    finished: str
    duration_s: float
    dry_run: bool
    filter: tuple[str, ...]
    ok: bool
    incomplete: bool
    stopped_at: StopRecord | None
    error: ErrorRecord | None
    hosts: dict[str, HostRecord]
    stages: tuple[StageRecord, ...]
    checks: tuple[CheckRecord, ...]
    schema_version: str = SCHEMA_VERSION
    phases: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    @property
    def failed_hosts(self) -> list[str]:
        """Names of the hosts with a failed task or check."""
        return [name for name, host in self.hosts.items() if host.failed]

    @property
    def changed_hosts(self) -> list[str]:
        """Names of the hosts where something changed."""
        return [name for name, host in self.hosts.items() if host.changed]

    @property
    def summary(self) -> dict[str, int]:
        """Counts of hosts, tasks and checks by outcome."""
        tasks = [t for h in self.hosts.values() for t in h.tasks]
        counts = {
            "hosts": len(self.hosts),
            "hosts_failed": len(self.failed_hosts),
            "hosts_changed": len(self.changed_hosts),
            "tasks": len(tasks),
            "tasks_failed": sum(t.failed for t in tasks),
            "tasks_changed": sum(t.changed for t in tasks),
            "checks": len(self.checks),
        }
        for status in Status:
            counts[f"checks_{status}"] = sum(c.status is status for c in self.checks)
        return counts

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON document (validates against ``schema/report.v1.json``)."""
        return {
            "schema_version": self.schema_version,
            "run_id": self.run_id,
            "command": self.command,
            "argv": list(self.argv),
            "started": self.started,
            "finished": self.finished,
            "duration_s": self.duration_s,
            "dry_run": self.dry_run,
            "filter": list(self.filter),
            "ok": self.ok,
            "incomplete": self.incomplete,
            "stopped_at": self.stopped_at.to_dict() if self.stopped_at else None,
            "error": self.error.to_dict() if self.error else None,
            "summary": self.summary,
            "hosts": {name: host.to_dict() for name, host in self.hosts.items()},
            "stages": [s.to_dict() for s in self.stages],
            "checks": [c.to_dict() for c in self.checks],
            "phases": {host: dict(per) for host, per in self.phases.items()},
        }

    def to_json(self, indent: int | None = 2) -> str:
        """Return the JSON document as text."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunReport:
        """Build a report from its JSON document (``summary`` is recomputed, not read).

        Raises:
            ReportError: the document is of another schema version or lacks a field.

        """
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ReportError(f"report schema version {version!r} is not {SCHEMA_VERSION!r}")
        try:
            stop = data.get("stopped_at")
            error = data.get("error")
            return cls(
                run_id=data["run_id"],
                command=data["command"],
                argv=tuple(data.get("argv", ())),
                started=data["started"],
                finished=data["finished"],
                duration_s=data["duration_s"],
                dry_run=data["dry_run"],
                filter=tuple(data.get("filter", ())),
                ok=data["ok"],
                incomplete=data["incomplete"],
                stopped_at=StopRecord(stop["stage"], stop["reason"]) if stop else None,
                error=ErrorRecord.from_dict(error) if error else None,
                hosts={n: HostRecord.from_dict(h) for n, h in data.get("hosts", {}).items()},
                stages=tuple(StageRecord.from_dict(s) for s in data.get("stages", ())),
                checks=tuple(CheckRecord.from_dict(c) for c in data.get("checks", ())),
                phases={
                    str(h): {str(n): float(v) for n, v in per.items()}
                    for h, per in (data.get("phases") or {}).items()
                },
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ReportError(f"report {data.get('run_id', '?')} is malformed: {exc!r}") from None

    # --- Jupyter and table views (nornir_homehub.report.views) -------------------------------

    def check_lines(self, only: Collection[Status | str] | None = None) -> list[str]:
        """The checks as ``check`` and ``verify`` print them: one line each, remedies under.

        ``only``: the statuses to show (``["fail", "warn"]``); every check when None.
        """
        wanted = None if only is None else {Status(s) for s in only}
        return views.check_lines(self.checks, only=wanted)

    def task_rows(self) -> list[dict[str, Any]]:
        """One flat row per host and task (the table view, without pandas)."""
        return views.task_rows(self)

    def check_rows(self) -> list[dict[str, Any]]:
        """One flat row per check."""
        return views.check_rows(self)

    def to_dataframe(self, what: Literal["tasks", "checks"] = "tasks") -> Any:
        """Return the task rows (or check rows) as a pandas DataFrame.

        Raises:
            ImportError: pandas is not installed (``pip install 'nornir_homehub[pandas]'``).

        """
        return views.report_dataframe(self, what)

    def __repr__(self) -> str:
        return views.report_repr(self)

    def _repr_html_(self) -> str:
        return views.report_html(self)
