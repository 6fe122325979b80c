"""Recording a run: `RunRecorder` collects results and checks, `recording` always writes them.

A `RunRecorder` collects Nornir results, checks and host errors stage by stage while a command
runs; `RunRecorder.finish` freezes them into a `RunReport`. `recording` guarantees the report,
the JUnit file and the history entry are written even when the run fails or is interrupted.
Every string entering a report goes through the redactor.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nornir_homehub.checks.model import Check
from nornir_homehub.errors import ReportError
from nornir_homehub.report.clean import (
    Redact,
    clean,
    cut,
    error_from_exception,
    iso,
    no_redact,
    utc_now,
)
from nornir_homehub.report.files import write_report
from nornir_homehub.report.history import save_history
from nornir_homehub.report.junit import write_junit
from nornir_homehub.report.model import (
    CheckRecord,
    ErrorRecord,
    HostRecord,
    RunReport,
    StageRecord,
    StopRecord,
    TaskRecord,
)
from nornir_homehub.report.phases import PhaseClock
from nornir_homehub.report.timing import DurationSource, TimingProcessor, Timings

if TYPE_CHECKING:
    from nornir.core.task import MultiResult, Result

logger = logging.getLogger(__name__)


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
        self.redact: Redact = redact or no_redact
        self.argv = tuple(self.redact(a) for a in argv)
        self.dry_run = dry_run
        self.filters = tuple(self.redact(f) for f in filters)
        self.run_id = uuid.uuid4().hex[:12]
        self.started = utc_now()
        self._t0 = time.monotonic()
        self._lock = threading.RLock()
        self._hosts: dict[str, list[TaskRecord]] = {}
        self._checks: list[CheckRecord] = []
        self._stages: dict[str, _StageState] = {}
        self._current: str | None = None
        self._stop: StopRecord | None = None
        self._watched: list[Timings] = []
        self._added: set[int] = set()
        self.phases = PhaseClock()
        self.report: RunReport | None = None

    # stages

    def _stage(self, name: str) -> _StageState:
        state = self._stages.get(name)
        if state is None:
            now = utc_now()
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
                self._stages[name].finished = utc_now()

    def watch(self, timings: Timings | TimingProcessor) -> None:
        """Take durations from ``timings`` (a `Timings` or the `TimingProcessor` feeding one).

        On an interrupted run, `finish` then also records the task instances that completed
        but were never passed to `add_result`, and those still running.
        """
        source = timings if isinstance(timings, Timings) else timings.timings
        with self._lock:
            self._watched.append(source)

    def _touch(self, stage: str, host: str) -> None:
        state = self._stage(stage)
        state.hosts.setdefault(host)
        state.finished = utc_now()
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
        go to the report's checks list. ``timings`` (usually the `TimingProcessor`) gives
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
                error = ErrorRecord("TaskFailed", cut(self.redact(message)))
        name = res.name or "?"
        self._hosts[host].append(
            TaskRecord(
                name=self.redact(name),
                stage=stage,
                level=level,
                changed=bool(res.changed),
                failed=bool(res.failed),
                duration_s=self._duration(res, timings),
                diff=cut(self.redact(str(res.diff or ""))),
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
                    evidence=cut(r(c.evidence)),
                    remedy=cut(r(c.remedy)),
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
            finished = utc_now()
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
                started=iso(self.started),
                finished=iso(finished),
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
                phases=self.phases.snapshot(),
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
            started=iso(state.started),
            finished=iso(state.finished),
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
