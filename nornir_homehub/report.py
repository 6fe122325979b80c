"""Run reports: what every command that touches hosts leaves behind.

A `RunRecorder` collects Nornir results, checks and host errors stage by stage while a command
runs; `RunRecorder.finish` freezes them into a `RunReport`, the versioned JSON document (schema
``schema/report.v1.json``) that CI reads, the terminal summarises and notebooks display.
`recording` guarantees the report, the JUnit file and the history entry are written even when
the run fails or is interrupted. Every string entering a report goes through the redactor.
"""

from __future__ import annotations

import contextlib
import html
import importlib
import json
import logging
import math
import os
import re
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, Literal, Protocol

from nornir_homehub.checks.model import Check, Layer, Status
from nornir_homehub.errors import HomehubError, TransportError

if TYPE_CHECKING:
    from nornir.core.inventory import Host
    from nornir.core.task import MultiResult, Result, Task

SCHEMA_VERSION = "1"
HISTORY_KEEP = 200
MAX_TEXT = 20_000
"""Longest string kept in a report; command output beyond that is cut (the host still has it)."""

Redact = Callable[[str], str]
logger = logging.getLogger(__name__)

_HISTORY_NAME = re.compile(r"^\d{8}T\d{12}Z-[0-9a-f]+\.json$")
# XML 1.0 forbids most control characters; command output (ANSI colours) contains them.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class ReportError(HomehubError):
    """A report cannot be written, read or validated."""


class ReportSchemaError(ReportError):
    """A report document does not match the published JSON Schema."""


def _no_redact(text: str) -> str:
    return text


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _cut(text: str) -> str:
    # Always given redacted text: cut first, a secret's start or end would survive unredacted.
    if len(text) <= MAX_TEXT:
        return text
    return text[:MAX_TEXT] + f"... [{len(text) - MAX_TEXT} more characters cut]"


def clean(value: Any, redact: Redact = _no_redact) -> Any:  # noqa: PLR0911 - one per JSON kind
    """Return ``value`` as JSON-ready data with every string (keys included) redacted.

    Objects with ``to_dict()`` are converted, enums become their value, paths and datetimes
    strings, bytes are decoded, and anything else falls back to ``str()``.
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Enum):
        return clean(value.value, redact)
    if isinstance(value, str):
        return _cut(redact(value))
    if isinstance(value, bytes):
        return _cut(redact(value.decode("utf-8", "replace")))
    if isinstance(value, Mapping):
        return {redact(str(k)): clean(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [clean(v, redact) for v in items]
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, PurePath):
        return redact(str(value))
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return clean(to_dict(), redact)
    return _cut(redact(str(value)))


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


def error_from_exception(exc: BaseException, redact: Redact = _no_redact) -> ErrorRecord:
    """Describe ``exc`` for a report: class name, redacted message and layer.

    A failed Nornir subtask is described by the subtask's name (its own error is recorded on
    the subtask); transport errors are on the ``ssh`` layer; an exception with a ``layer``
    attribute names its own layer.
    """
    from nornir.core.exceptions import NornirSubTaskError

    kind = type(exc).__name__
    if isinstance(exc, NornirSubTaskError):
        message = f"subtask {exc.task.name!r} failed"
    elif isinstance(exc, KeyboardInterrupt):
        message = "interrupted (Ctrl-C)"
    else:
        message = str(exc) or kind
    layer: str | None = None
    if isinstance(exc, TransportError):
        layer = str(Layer.SSH)
    elif getattr(exc, "layer", None) is not None:
        layer = str(clean(exc.layer))  # type: ignore[attr-defined]
    return ErrorRecord(type=kind, message=_cut(redact(message)), layer=layer)


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
        return {
            "failed": self.failed,
            "changed": self.changed,
            "tasks": [t.to_dict() for t in self.tasks],
        }

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
        return {"stage": self.stage, "reason": self.reason}


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
    failed; the CLI exits 0 exactly when ``ok`` is true.
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
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ReportError(f"report {data.get('run_id', '?')} is malformed: {exc!r}") from None

    # --- Jupyter and table views -------------------------------------------------------------

    def task_rows(self) -> list[dict[str, Any]]:
        """One flat row per host and task (the table view, without pandas)."""
        return [
            {
                "host": host,
                "stage": t.stage,
                "task": t.name,
                "level": t.level,
                "changed": t.changed,
                "failed": t.failed,
                "duration_s": t.duration_s,
                "error": f"{t.error.type}: {t.error.message}" if t.error else "",
            }
            for host, record in self.hosts.items()
            for t in record.tasks
        ]

    def check_rows(self) -> list[dict[str, Any]]:
        """One flat row per check."""
        return [{k: v for k, v in c.to_dict().items() if k != "data"} for c in self.checks]

    def to_dataframe(self, what: Literal["tasks", "checks"] = "tasks") -> Any:
        """Return the task rows (or check rows) as a pandas DataFrame.

        Raises:
            ImportError: pandas is not installed (``pip install 'nornir_homehub[pandas]'``).

        """
        try:
            pd = importlib.import_module("pandas")
        except ImportError:
            raise ImportError(
                "RunReport.to_dataframe() needs pandas: pip install 'nornir_homehub[pandas]' "
                "(task_rows() and check_rows() give the same rows without it)"
            ) from None
        return pd.DataFrame(self.task_rows() if what == "tasks" else self.check_rows())

    def _status_word(self) -> str:
        if self.incomplete:
            return "INCOMPLETE"
        return "ok" if self.ok else "FAILED"

    def __repr__(self) -> str:
        s = self.summary
        stop = f" stopped_at={self.stopped_at.stage!r}" if self.stopped_at else ""
        dry = " dry_run" if self.dry_run else ""
        return (
            f"<RunReport {self.command} {self._status_word()}{dry} run_id={self.run_id} "
            f"hosts={s['hosts']} failed={s['hosts_failed']} changed={s['hosts_changed']} "
            f"checks_failed={s['checks_fail']}{stop} {self.duration_s:.1f}s>"
        )

    def _repr_html_(self) -> str:
        esc = html.escape
        checks_by_host: dict[str, list[CheckRecord]] = {}
        for c in self.checks:
            checks_by_host.setdefault(c.host, []).append(c)
        rows = []
        for name, host in self.hosts.items():
            tasks = host.tasks
            checks = checks_by_host.get(name, [])
            ok = sum(not t.failed and not t.changed for t in tasks)
            rows.append(
                f"<tr><td>{esc(name)}</td><td>{ok}</td>"
                f"<td>{sum(t.changed for t in tasks)}</td><td>{sum(t.failed for t in tasks)}</td>"
                f"<td>{esc(_check_counts(checks))}</td>"
                f"<td>{'FAILED' if host.failed else 'ok'}</td></tr>"
            )
        stop = (
            f"<p>stopped at stage <b>{esc(self.stopped_at.stage)}</b>: "
            f"{esc(self.stopped_at.reason)}</p>"
            if self.stopped_at
            else ""
        )
        return (
            f"<p><b>{esc(self.command)}</b> {esc(self._status_word())}"
            f"{' (dry run)' if self.dry_run else ''}, run {esc(self.run_id)}, "
            f"{self.duration_s:.1f}s</p>{stop}"
            "<table><thead><tr><th>host</th><th>ok</th><th>changed</th><th>failed</th>"
            f"<th>checks</th><th>status</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )


def _check_counts(checks: Iterable[CheckRecord]) -> str:
    counts: dict[Status, int] = {}
    for c in checks:
        counts[c.status] = counts.get(c.status, 0) + 1
    return ", ".join(f"{counts[s]} {s}" for s in Status if s in counts)


# --- timing ----------------------------------------------------------------------------------


class DurationSource(Protocol):
    """Anything that knows how long a Nornir result took (`Timings`, `ProgressProcessor`)."""

    def duration_of(self, result: Result) -> float | None:
        """Seconds the task instance that produced ``result`` took, or None."""
        ...


class Timings:
    """Thread-safe record of task instance durations, fed by a Nornir processor.

    Keeps what completed (so an interrupted run still reports finished hosts) and what was
    still running.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._starts: dict[int, tuple[Task, str, float]] = {}
        self._durations: dict[int, tuple[Result, float]] = {}
        self._completed: list[tuple[str, MultiResult]] = []

    def start(self, task: Task, host: Host) -> None:
        """Note that ``task`` started on ``host``."""
        with self._lock:
            self._starts[id(task)] = (task, host.name, time.monotonic())

    def stop(self, task: Task, host: Host, result: MultiResult, *, top_level: bool) -> float:
        """Note that ``task`` completed on ``host``; return its duration in seconds."""
        now = time.monotonic()
        with self._lock:
            entry = self._starts.pop(id(task), None)
            duration = now - entry[2] if entry else 0.0
            if len(result):
                # Task.start puts the Result it just made at index 0 before calling processors.
                self._durations[id(result[0])] = (result[0], duration)
            if top_level:
                self._completed.append((host.name, result))
        return duration

    def duration_of(self, result: Result) -> float | None:
        """Seconds the task instance that produced ``result`` took, or None."""
        with self._lock:
            entry = self._durations.get(id(result))
        return round(entry[1], 3) if entry and entry[0] is result else None

    def completed(self) -> list[tuple[str, MultiResult]]:
        """(host, MultiResult) of every top-level task instance that completed."""
        with self._lock:
            return list(self._completed)

    def running(self) -> list[tuple[str, str, float]]:
        """(host, task name, seconds so far) of the top-level task instances still running."""
        now = time.monotonic()
        with self._lock:
            return [
                (host, task.name, round(now - started, 3))
                for task, host, started in self._starts.values()
                if task.parent_task is None
            ]


# --- recording -------------------------------------------------------------------------------


@dataclass
class _StageState:
    name: str
    started: datetime
    finished: datetime
    hosts: dict[str, None] = field(default_factory=dict)


def _flatten(multi: Sequence[Any], level: int = 0) -> Iterator[tuple[int, Result]]:
    # A MultiResult is [task, subtask, subtask, ...]; a subtask with its own subtasks is a
    # nested MultiResult whose first item is that subtask.
    from nornir.core.task import MultiResult

    for index, item in enumerate(multi):
        if isinstance(item, MultiResult):
            yield from _flatten(item, level + 1)
        else:
            yield (level if index == 0 else level + 1), item


def _as_checks(value: Any) -> list[Check] | None:
    if isinstance(value, Check):
        return [value]
    if isinstance(value, list | tuple) and value and all(isinstance(c, Check) for c in value):
        return list(value)
    return None


class RunRecorder:
    """Collects what a command did, stage by stage, and freezes it into a `RunReport`.

    Args:
        command: the command's name (``deploy``, ``verify``...).
        argv: the command line, as typed.
        dry_run: whether the run changes nothing.
        filters: the ``--filter`` expressions (``role=compute``).
        redact: applied to every string entering the report (secrets masked).

    Thread-safe: results may be added from worker threads.

    """

    def __init__(
        self,
        command: str,
        argv: Sequence[str] = (),
        dry_run: bool = False,
        filters: Sequence[str] = (),
        redact: Redact | None = None,
    ) -> None:
        self.command = command
        self.redact: Redact = redact or _no_redact
        self.argv = tuple(self.redact(a) for a in argv)
        self.dry_run = dry_run
        self.filters = tuple(self.redact(f) for f in filters)
        self.run_id = uuid.uuid4().hex[:12]
        self.started = _now()
        self._t0 = time.monotonic()
        self._lock = threading.RLock()
        self._hosts: dict[str, list[TaskRecord]] = {}
        self._checks: list[CheckRecord] = []
        self._stages: dict[str, _StageState] = {}
        self._current: str | None = None
        self._stop: StopRecord | None = None
        self._watched: list[Timings] = []
        self._added: set[int] = set()
        self.report: RunReport | None = None

    # stages

    def _stage(self, name: str) -> _StageState:
        state = self._stages.get(name)
        if state is None:
            now = _now()
            state = self._stages[name] = _StageState(name, now, now)
        self._current = name
        return state

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage: results added inside belong to it (``with recorder.stage("dns"):``)."""
        with self._lock:
            self._stage(name)
        try:
            yield
        finally:
            with self._lock:
                self._stages[name].finished = _now()

    def watch(self, timings: Timings | Any) -> None:
        """Take durations from ``timings`` (a `Timings` or a processor with ``.timings``).

        On an interrupted run, `finish` then also records the task instances that completed
        but were never passed to `add_result`, and those still running.
        """
        source = timings if isinstance(timings, Timings) else timings.timings
        with self._lock:
            self._watched.append(source)

    def _touch(self, stage: str, host: str) -> None:
        state = self._stage(stage)
        state.hosts.setdefault(host)
        state.finished = _now()
        self._hosts.setdefault(host, [])

    # results

    def add_result(
        self,
        stage: str,
        result: Mapping[str, MultiResult],
        timings: DurationSource | None = None,
    ) -> None:
        """Record an `AggregatedResult` (host -> MultiResult) of ``stage``.

        Checks returned by a task (a list of `Check`, or an object with a ``.checks`` list)
        go to the report's checks list. ``timings`` (usually the `ProgressProcessor`) gives
        each task's duration; without it, durations of watched processors are used.
        """
        with self._lock:
            for host, multi in result.items():
                self._add_multi(stage, host, multi, timings)

    def _duration(self, result: Result, timings: DurationSource | None) -> float | None:
        sources: list[DurationSource] = [timings] if timings is not None else []
        sources.extend(self._watched)
        for source in sources:
            duration = source.duration_of(result)
            if duration is not None:
                return duration
        return None

    def _add_multi(
        self, stage: str, host: str, multi: MultiResult, timings: DurationSource | None
    ) -> None:
        self._added.add(id(multi))
        self._touch(stage, host)
        for level, res in _flatten(multi):
            self._add_one(stage, host, level, res, timings)

    def _add_one(
        self, stage: str, host: str, level: int, res: Result, timings: DurationSource | None
    ) -> None:
        error: ErrorRecord | None = None
        value: Any = None
        checks: list[Check] | None = None
        if res.exception is not None:
            # Nornir puts the traceback in .result of a failed Result: never report it. A task
            # may return a failed Result with its exception and a structured result (a
            # refused DNS plan): that result is kept.
            error = error_from_exception(res.exception, self.redact)
            if res.result is not None and not isinstance(res.result, str):
                value = res.result
        else:
            value = res.result
            checks = _as_checks(value)
            if checks is not None:
                value = None
            elif isinstance(getattr(value, "checks", None), list | tuple):
                checks = _as_checks(value.checks) or []
                value = value.to_dict() if callable(getattr(value, "to_dict", None)) else None
                if isinstance(value, dict):
                    value.pop("checks", None)
            if res.failed:
                message = value if isinstance(value, str) and value else "the task failed"
                error = ErrorRecord("TaskFailed", _cut(self.redact(message)))
        name = res.name or "?"
        self._hosts[host].append(
            TaskRecord(
                name=self.redact(name),
                stage=stage,
                level=level,
                changed=bool(res.changed),
                failed=bool(res.failed),
                duration_s=self._duration(res, timings),
                diff=_cut(self.redact(str(res.diff or ""))),
                result=clean(value, self.redact),
                error=error,
            )
        )
        if checks:
            self._add_checks(stage, checks, name)

    def add_checks(self, stage: str, checks: Iterable[Check], task: str | None = None) -> None:
        """Record checks made outside a Nornir task (``task`` names what produced them)."""
        with self._lock:
            self._add_checks(stage, list(checks), task)

    def _add_checks(self, stage: str, checks: list[Check], task: str | None) -> None:
        r = self.redact
        for c in checks:
            self._touch(stage, c.host)
            self._checks.append(
                CheckRecord(
                    name=r(c.name),
                    host=c.host,
                    layer=c.layer,
                    status=c.status,
                    evidence=_cut(r(c.evidence)),
                    remedy=_cut(r(c.remedy)),
                    data=clean(c.data, r),
                    stage=stage,
                    task=r(task) if task else None,
                )
            )

    def add_host_error(
        self, stage: str, host: str, exc: BaseException, task: str | None = None
    ) -> None:
        """Record that ``host`` failed in ``stage`` outside a Nornir task (e.g. at connect).

        ``task`` names the failed step; it defaults to the stage's name.
        """
        with self._lock:
            self._touch(stage, host)
            self._hosts[host].append(
                TaskRecord(
                    name=self.redact(task or stage),
                    stage=stage,
                    failed=True,
                    error=error_from_exception(exc, self.redact),
                )
            )

    def stop(self, stage: str, reason: str) -> None:
        """Record that ``stage`` (a gate) stopped the run, and why; the run is then not ok."""
        with self._lock:
            self._stage(stage)
            self._stop = StopRecord(stage, self.redact(reason))

    # finishing

    def _ingest_watched(self) -> None:
        stage = self._current or self.command
        for timings in self._watched:
            for host, multi in timings.completed():
                if id(multi) not in self._added:
                    self._add_multi(stage, host, multi, None)
            for host, task_name, seconds in timings.running():
                self._touch(stage, host)
                self._hosts[host].append(
                    TaskRecord(
                        name=self.redact(task_name),
                        stage=stage,
                        failed=True,
                        duration_s=seconds,
                        error=ErrorRecord("Interrupted", "the run stopped while this task ran"),
                    )
                )

    def finish(self, incomplete: bool = False, error: BaseException | None = None) -> RunReport:
        """Freeze what was recorded into a `RunReport` (once; later calls return it).

        Args:
            incomplete: the run did not finish (interrupted or aborted by an exception).
            error: the exception that ended the run, if any (type and message are kept).

        """
        with self._lock:
            if self.report is not None:
                return self.report
            if incomplete:
                self._ingest_watched()
            finished = _now()
            failed_checks = {c.host for c in self._checks if c.failed}
            hosts = {
                name: HostRecord(
                    failed=any(t.failed for t in tasks) or name in failed_checks,
                    changed=any(t.changed for t in tasks),
                    tasks=tuple(tasks),
                )
                for name, tasks in self._hosts.items()
            }
            stages = tuple(self._stage_record(s) for s in self._stages.values())
            error_record = error_from_exception(error, self.redact) if error else None
            ok = not (
                incomplete or self._stop or error_record or any(h.failed for h in hosts.values())
            )
            self.report = RunReport(
                run_id=self.run_id,
                command=self.command,
                argv=self.argv,
                started=_iso(self.started),
                finished=_iso(finished),
                duration_s=round(time.monotonic() - self._t0, 3),
                dry_run=self.dry_run,
                filter=self.filters,
                ok=ok,
                incomplete=incomplete,
                stopped_at=self._stop,
                error=error_record,
                hosts=hosts,
                stages=stages,
                checks=tuple(self._checks),
            )
            return self.report

    def _stage_record(self, state: _StageState) -> StageRecord:
        name = state.name
        failed: dict[str, None] = {}
        changed: dict[str, None] = {}
        for host, tasks in self._hosts.items():
            for t in tasks:
                if t.stage == name and t.failed:
                    failed.setdefault(host)
                if t.stage == name and t.changed:
                    changed.setdefault(host)
        for c in self._checks:
            if c.stage == name and c.failed:
                failed.setdefault(c.host)
        stopped = self._stop is not None and self._stop.stage == name
        return StageRecord(
            name=name,
            ok=not failed and not stopped,
            started=_iso(state.started),
            finished=_iso(state.finished),
            duration_s=round((state.finished - state.started).total_seconds(), 3),
            hosts=tuple(state.hosts),
            failed_hosts=tuple(h for h in state.hosts if h in failed),
            changed_hosts=tuple(h for h in state.hosts if h in changed),
            stopped=stopped,
        )


@contextlib.contextmanager
def recording(
    recorder: RunRecorder,
    *,
    report_path: Path | None = None,
    junit_path: Path | None = None,
    history_dir: Path | None = None,
) -> Iterator[RunRecorder]:
    """Run a command's body and always leave its report behind.

    On leaving the block the report is finished and written to ``report_path`` (JSON),
    ``junit_path`` (JUnit XML) and ``history_dir``, whichever are given; `RunRecorder.report`
    then holds it. When the block raises (KeyboardInterrupt included) the report is marked
    incomplete and not ok, records the exception's type and message, and the exception is
    re-raised. Call ``sys.exit``/``ctx.exit`` after the block, not inside it.

    Raises:
        ReportError: a file could not be written (only when the block itself succeeded;
            otherwise the failure is logged and the block's exception wins).

    """
    try:
        yield recorder
    except BaseException as exc:
        report = recorder.finish(incomplete=True, error=exc)
        for problem in _write_all(report, report_path, junit_path, history_dir):
            logger.error("%s", problem)
        raise
    report = recorder.finish()
    problems = _write_all(report, report_path, junit_path, history_dir)
    if problems:
        raise problems[0]


def _write_all(
    report: RunReport, report_path: Path | None, junit_path: Path | None, history_dir: Path | None
) -> list[ReportError]:
    problems: list[ReportError] = []
    jobs: list[tuple[Callable[[], object], str]] = []
    if report_path is not None:
        jobs.append((lambda: write_report(report, report_path), f"report {report_path}"))
    if junit_path is not None:
        jobs.append((lambda: write_junit(report, junit_path), f"JUnit file {junit_path}"))
    if history_dir is not None:
        jobs.append((lambda: save_history(report, history_dir), f"history in {history_dir}"))
    for job, what in jobs:
        try:
            job()
        except ReportError as exc:
            problems.append(exc)
        except OSError as exc:
            problems.append(ReportError(f"cannot write the {what}: {exc.strerror or exc}"))
    return problems


# --- files -----------------------------------------------------------------------------------


def private_dir(path: Path) -> Path:
    """Create folder ``path`` and its missing parents as 0700; existing folders are not changed.

    Reports, JUnit files and the history can hold secret-derived text (redacted, but still
    the run's details): they are 0600 files, and every folder made for them is 0700. A folder
    that already exists (the user's working directory, /tmp) keeps its mode.
    """
    missing: list[Path] = []
    here = Path(path)
    while not here.exists() and here != here.parent:
        missing.append(here)
        here = here.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)
            folder.chmod(0o700)
    return Path(path)


def _atomic_write(path: Path, text: str) -> None:
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_report(report: RunReport, path: Path) -> Path:
    """Write the report's JSON document to ``path`` atomically (temporary file + rename).

    The file is 0600; folders created for it are 0700 (`private_dir`).

    Raises:
        OSError: the file cannot be written.

    """
    _atomic_write(Path(path), report.to_json() + "\n")
    return Path(path)


def load_report(path: Path) -> RunReport:
    """Read a report written by `write_report`.

    Raises:
        ReportError: the file is unreadable, not JSON or not a version-1 report.

    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReportError(f"cannot read report {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ReportError(f"report {path} is not a JSON object")
    return RunReport.from_dict(data)


def _xml_text(text: str) -> str:
    return _XML_ILLEGAL.sub("?", text)


def junit_xml(report: RunReport) -> str:
    """Return the report as JUnit XML.

    One ``testsuite`` per stage; one ``testcase`` per host and task (classname = host) and
    per check (``check <name> [<layer>]``); failed tasks and checks are ``failure``s with
    their message, skipped checks ``skipped``; a gate that stopped the run and an
    interrupted run are failures of their own.
    """
    x = _xml_text
    suites: dict[str, list[ET.Element]] = {s.name: [] for s in report.stages}

    def case(stage: str, classname: str, name: str, seconds: float | None) -> ET.Element:
        el = ET.Element(
            "testcase", name=x(name), classname=x(classname), time=f"{seconds or 0.0:.3f}"
        )
        suites.setdefault(stage, []).append(el)
        return el

    for host, record in report.hosts.items():
        for t in record.tasks:
            el = case(t.stage, host, t.name, t.duration_s)
            if t.failed:
                err = t.error or ErrorRecord("TaskFailed", "the task failed")
                layer = f" [{err.layer}]" if err.layer else ""
                fail = ET.SubElement(el, "failure", type=x(err.type), message=x(err.message))
                fail.text = x(f"{host}{layer}: {err.type}: {err.message}")
            if t.diff:
                ET.SubElement(el, "system-out").text = x(t.diff)
    for c in report.checks:
        el = case(c.stage, c.host, f"check {c.name} [{c.layer}]", None)
        details = c.evidence + (f"\nremedy: {c.remedy}" if c.remedy else "")
        if c.status is Status.FAIL:
            fail = ET.SubElement(el, "failure", type=f"check.{c.layer}", message=x(c.evidence))
            fail.text = x(details)
        elif c.status is Status.SKIP:
            ET.SubElement(el, "skipped", message=x(c.evidence))
        else:
            ET.SubElement(el, "system-out").text = x(f"{c.status}: {details}")
    if report.stopped_at:
        el = case(report.stopped_at.stage, report.command, "stage gate", None)
        reason = report.stopped_at.reason
        ET.SubElement(el, "failure", type="StageStopped", message=x(reason)).text = x(
            f"stage {report.stopped_at.stage} stopped the run: {reason}"
        )
    if report.incomplete or report.error:
        stage = report.stages[-1].name if report.stages else report.command
        el = case(stage, report.command, "run completed", report.duration_s)
        err = report.error or ErrorRecord("Incomplete", "the run did not complete")
        ET.SubElement(el, "error", type=x(err.type), message=x(err.message)).text = x(
            f"{err.type}: {err.message}"
        )

    root = _junit_root(report, suites)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _junit_root(report: RunReport, suites: dict[str, list[ET.Element]]) -> ET.Element:
    x = _xml_text
    root = ET.Element("testsuites", name=x(f"homehub {report.command}"))
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for stage, cases in suites.items():
        counts = {
            "tests": len(cases),
            "failures": sum(c.find("failure") is not None for c in cases),
            "errors": sum(c.find("error") is not None for c in cases),
            "skipped": sum(c.find("skipped") is not None for c in cases),
        }
        seconds = sum(float(c.get("time", "0")) for c in cases)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=x(f"{report.command}.{stage}"),
            timestamp=report.started,
            time=f"{seconds:.3f}",
        )
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.extend(cases)
    root.set("time", f"{report.duration_s:.3f}")
    for key, value in totals.items():
        root.set(key, str(value))
    return root


def write_junit(report: RunReport, path: Path) -> Path:
    """Write the report as JUnit XML to ``path`` atomically (see `junit_xml`); 0600, as reports.

    Raises:
        OSError: the file cannot be written.

    """
    _atomic_write(Path(path), junit_xml(report))
    return Path(path)


# --- history ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryEntry:
    """One past run, as listed by ``homehub history``."""

    run_id: str
    command: str
    started: str
    duration_s: float
    ok: bool
    incomplete: bool
    dry_run: bool
    hosts: int
    hosts_failed: int
    hosts_changed: int
    stopped_at: str | None
    path: Path

    @property
    def status(self) -> str:
        """``ok``, ``failed`` or ``incomplete``."""
        if self.incomplete:
            return "incomplete"
        return "ok" if self.ok else "failed"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "run_id": self.run_id,
            "command": self.command,
            "started": self.started,
            "duration_s": self.duration_s,
            "status": self.status,
            "ok": self.ok,
            "incomplete": self.incomplete,
            "dry_run": self.dry_run,
            "hosts": self.hosts,
            "hosts_failed": self.hosts_failed,
            "hosts_changed": self.hosts_changed,
            "stopped_at": self.stopped_at,
            "path": str(self.path),
        }


def _history_name(report: RunReport) -> str:
    started = datetime.fromisoformat(report.started.replace("Z", "+00:00"))
    return f"{started.strftime('%Y%m%dT%H%M%S%fZ')}-{report.run_id}.json"


def save_history(report: RunReport, history_dir: Path, keep: int = HISTORY_KEEP) -> Path:
    """Keep ``report`` in the local history and drop all but the newest ``keep`` runs.

    The history folder is made 0700 and each run's file 0600.

    Raises:
        OSError: the history folder cannot be written.

    """
    history_dir = Path(history_dir)
    private_dir(history_dir).chmod(0o700)  # the history is ours alone: no other user reads it
    path = write_report(report, history_dir / _history_name(report))
    runs = sorted(p for p in history_dir.iterdir() if _HISTORY_NAME.match(p.name))
    for old in runs[: max(len(runs) - keep, 0)]:
        with contextlib.suppress(FileNotFoundError):
            old.unlink()
    return path


def list_history(history_dir: Path, limit: int = 20) -> list[HistoryEntry]:
    """Return up to ``limit`` past runs, newest first; unreadable files are skipped."""
    history_dir = Path(history_dir)
    if not history_dir.is_dir():
        return []
    names = sorted((p for p in history_dir.iterdir() if _HISTORY_NAME.match(p.name)), reverse=True)
    entries: list[HistoryEntry] = []
    for path in names:
        if len(entries) >= limit:
            break
        try:
            report = load_report(path)
        except ReportError as exc:
            logger.warning("skipping history entry: %s", exc)
            continue
        entries.append(
            HistoryEntry(
                run_id=report.run_id,
                command=report.command,
                started=report.started,
                duration_s=report.duration_s,
                ok=report.ok,
                incomplete=report.incomplete,
                dry_run=report.dry_run,
                hosts=len(report.hosts),
                hosts_failed=len(report.failed_hosts),
                hosts_changed=len(report.changed_hosts),
                stopped_at=report.stopped_at.stage if report.stopped_at else None,
                path=path,
            )
        )
    return entries


# --- schema ----------------------------------------------------------------------------------


def report_schema() -> dict[str, Any]:
    """Return the published JSON Schema of the report (``schema/report.v1.json``)."""
    from importlib import resources

    text = resources.files("nornir_homehub").joinpath("schema", "report.v1.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate_report(data: Mapping[str, Any]) -> None:
    """Check a report document against the JSON Schema.

    Raises:
        ReportSchemaError: listing the JSON path and message of the first violations.

    """
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(report_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = [f"{e.json_path}: {_short(e.message)}" for e in errors[:5]]
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise ReportSchemaError(
            "report does not match schema report.v1.json:\n  " + "\n  ".join(lines) + more
        )
