"""Terminal output of a run: live progress while it runs, a summary when it ends.

`ProgressProcessor` is a Nornir processor that shows progress on stderr: a live table per
host on a TTY, plain lines otherwise, nothing when disabled (``--json``). It never writes to
stdout and times nothing itself: the durations it shows (and the report's) come from the
`TimingProcessor` placed before it in the processors list.
The end-of-run table is `nornir_homehub.report.summary`.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TYPE_CHECKING, TextIO

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from nornir_homehub.report import DurationSource, Redact, error_from_exception

if TYPE_CHECKING:
    from nornir.core.inventory import Host
    from nornir.core.task import AggregatedResult, MultiResult, Result, Task
    from rich.progress import Progress, TaskID


def _depth(task: Task) -> int:
    depth = 0
    parent = task.parent_task
    while parent is not None:
        depth += 1
        parent = parent.parent_task
    return depth


class ProgressProcessor:
    """Nornir processor: shows live progress of each host/task instance on stderr.

    Args:
        output: a rich `Console` or a text stream (default ``sys.stderr``). A TTY gets a live
            table (one row per host, its current task); anything else gets plain lines without
            escape codes.
        enabled: False shows nothing (``--json``).
        redact: applied to error messages before they are shown.
        timings: where the seconds shown after a finished task come from (the
            `TimingProcessor` placed before this one); without it no seconds are shown.

    Use: ``nr.with_processors([timing, proc]).run(...)`` then ``recorder.add_result(stage,
    result, timing)``.

    """

    def __init__(
        self,
        output: Console | TextIO | None = None,
        enabled: bool = True,
        redact: Redact | None = None,
        timings: DurationSource | None = None,
    ) -> None:
        if isinstance(output, Console):
            self.console = output
        else:
            self.console = Console(file=output or sys.stderr, highlight=False, soft_wrap=True)
        self.enabled = enabled
        self.live = enabled and self.console.is_terminal
        self.redact = redact or (lambda text: text)
        self.timings = timings
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._rows: dict[str, TaskID] = {}
        self._t0 = time.monotonic()

    # output helpers

    def _line(self, text: Text) -> None:
        with self._lock:
            if self._progress is not None:
                self._progress.console.print(text)
            else:
                self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def _outcome(self, result: Result) -> Text:
        if result.failed:
            text = Text("FAILED", style="bold red")
            if result.exception is not None:
                err = error_from_exception(result.exception, self.redact)
                layer = f" [{err.layer}]" if err.layer else ""
                text.append(f"{layer} {err.type}: {err.message}", style="red")
            return text
        if result.changed:
            return Text("changed", style="yellow")
        return Text("ok", style="green")

    # nornir processor protocol

    def task_started(self, task: Task) -> None:
        """Start the live display of one ``nr.run``."""
        if not self.live:
            return
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with self._lock:
            if self._progress is None:
                self._progress = Progress(
                    SpinnerColumn(finished_text="-"),
                    TextColumn("[bold]{task.fields[host]}"),
                    TextColumn("{task.description}"),
                    TimeElapsedColumn(),
                    console=self.console,
                    transient=False,
                )
                self._rows = {}
                self._progress.start()

    def task_completed(self, task: Task, result: AggregatedResult) -> None:
        """Stop the live display: the rows stay as the record of what ran."""
        with self._lock:
            if self._progress is not None:
                self._progress.stop()
                self._progress = None

    def _started(self, task: Task, host: Host) -> None:
        if not self.enabled:
            return
        label = escape(f"{'  ' * _depth(task)}{task.name}")
        with self._lock:
            if self._progress is not None:
                row = self._rows.get(host.name)
                if row is None:
                    self._rows[host.name] = self._progress.add_task(
                        label, host=host.name, total=None
                    )
                else:
                    self._progress.update(row, description=label)
                return
        if task.parent_task is None:
            self._line(Text(f"{host.name}: {task.name} ...", style="dim"))

    def _completed(self, task: Task, host: Host, result: MultiResult) -> None:
        top = task.parent_task is None
        if not self.enabled or not len(result):
            return
        outcome = self._outcome(result[0])
        with self._lock:
            progress = self._progress
            if progress is not None and top:
                row = self._rows.get(host.name)
                if row is not None:
                    description = Text(f"{task.name}: ").append(outcome)
                    progress.update(row, description=description.markup, total=1, completed=1)
        if progress is not None and not result[0].failed:
            return
        indent = "  " * _depth(task)
        line = Text(f"{host.name}: {indent}{task.name} ")
        line.append(outcome)
        seconds = self.timings.duration_of(result[0]) if self.timings is not None else None
        if seconds is not None:
            line.append(f" ({seconds:.1f}s)", style="dim")
        self._line(line)

    def task_instance_started(self, task: Task, host: Host) -> None:
        """Show a host starting a task."""
        self._started(task, host)

    def task_instance_completed(self, task: Task, host: Host, result: MultiResult) -> None:
        """Show a host finishing a task."""
        self._completed(task, host, result)

    def subtask_instance_started(self, task: Task, host: Host) -> None:
        """Show a host starting a subtask."""
        self._started(task, host)

    def subtask_instance_completed(self, task: Task, host: Host, result: MultiResult) -> None:
        """Show a host finishing a subtask."""
        self._completed(task, host, result)
