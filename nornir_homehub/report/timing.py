"""How long each task took: durations of Nornir task instances, per host.

`TimingProcessor` is a Nornir processor that only times: it feeds `Timings`, a thread-safe
record from which the recorder reads each result's duration, and what completed or was still
running when a run was interrupted. It is combined with the display processor
(`nornir_homehub.progress.ProgressProcessor`) as nornir combines processors, in a list:
``nr.with_processors([timing, progress])``.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from nornir.core.inventory import Host
    from nornir.core.task import AggregatedResult, MultiResult, Result, Task


class DurationSource(Protocol):
    """Anything that knows how long a Nornir result took (`Timings`, `TimingProcessor`)."""

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


class TimingProcessor:
    """Nornir processor: times every task and subtask instance on every host; shows nothing.

    Put it before a display processor in the processors list (nornir calls them in order), so
    that the display can read the duration of the task instance that just completed
    (`duration_of`). `timings` is what a `RunRecorder` watches.
    """

    def __init__(self) -> None:
        self.timings = Timings()

    def duration_of(self, result: Result) -> float | None:
        """Seconds the task instance that produced ``result`` took, or None."""
        return self.timings.duration_of(result)

    # nornir processor protocol

    def task_started(self, task: Task) -> None:
        """Nothing to time: instances are timed per host."""

    def task_completed(self, task: Task, result: AggregatedResult) -> None:
        """Nothing to time: instances are timed per host."""

    def task_instance_started(self, task: Task, host: Host) -> None:
        """Start the clock of ``task`` on ``host``."""
        self.timings.start(task, host)

    def task_instance_completed(self, task: Task, host: Host, result: MultiResult) -> None:
        """Stop the clock of ``task`` on ``host``."""
        self.timings.stop(task, host, result, top_level=task.parent_task is None)

    def subtask_instance_started(self, task: Task, host: Host) -> None:
        """Start the clock of a subtask on ``host``."""
        self.timings.start(task, host)

    def subtask_instance_completed(self, task: Task, host: Host, result: MultiResult) -> None:
        """Stop the clock of a subtask on ``host``."""
        self.timings.stop(task, host, result, top_level=task.parent_task is None)
