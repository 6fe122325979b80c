"""Terminal output of a run: live progress while it runs, a summary when it ends.

`ProgressProcessor` is a Nornir processor that shows progress on stderr: a live table per
host on a TTY, plain lines otherwise, nothing when disabled (``--json``). It never writes to
stdout and times nothing itself: the durations it shows (and the report's) come from the
`TimingProcessor` placed before it in the processors list.
`render_summary` / `print_summary` turn a `RunReport` into the end-of-run table.
"""

from __future__ import annotations

import io
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, TextIO

from rich import box
from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from nornir_homehub.checks.model import Status
from nornir_homehub.report import DurationSource, Redact, RunReport, error_from_exception

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


# --- summary ---------------------------------------------------------------------------------


def _summary_renderables(report: RunReport, color: bool) -> list[Any]:
    s = report.summary
    status = "INCOMPLETE" if report.incomplete else ("OK" if report.ok else "FAILED")
    style = "bold green" if report.ok else "bold red"
    head = Text(f"{report.command} ", style="bold").append(status, style=style)
    head.append(
        f"  run {report.run_id}  {report.duration_s:.1f}s  "
        f"hosts {s['hosts']}, failed {s['hosts_failed']}, changed {s['hosts_changed']}"
    )
    if report.dry_run:
        head.append("  (dry run: nothing was changed)", style="cyan")
    parts: list[Any] = [head]
    if report.stopped_at:
        parts.append(
            Text(f"stopped at stage {report.stopped_at.stage}: ", style="bold red").append(
                report.stopped_at.reason
            )
        )
    if report.error:
        parts.append(
            Text("run aborted: ", style="bold red").append(
                f"{report.error.type}: {report.error.message}"
            )
        )

    table = Table(box=box.SIMPLE_HEAD if color else box.ASCII2, show_edge=color)
    for column in ("host", "ok", "changed", "failed", "checks", "status"):
        table.add_column(column, justify="left" if column in ("host", "checks") else "right")
    checks_by_host: dict[str, list[Status]] = {}
    for c in report.checks:
        checks_by_host.setdefault(c.host, []).append(c.status)
    for name, host in report.hosts.items():
        tasks = host.tasks
        statuses = checks_by_host.get(name, [])
        checks = ", ".join(f"{statuses.count(st)} {st}" for st in Status if st in statuses)
        table.add_row(
            Text(name),
            str(sum(not t.failed and not t.changed for t in tasks)),
            Text(str(sum(t.changed for t in tasks)), style="yellow" if host.changed else ""),
            Text(str(sum(t.failed for t in tasks)), style="red" if host.failed else ""),
            Text(checks or "-"),
            Text("FAILED", style="bold red") if host.failed else Text("ok", style="green"),
        )
    if report.hosts:
        parts.append(table)

    failed = [
        (name, t)
        for name, record in report.hosts.items()
        for t in record.tasks
        # a parent failing because its subtask failed is explained by the subtask's line
        if t.failed and not (t.error and t.error.type == "NornirSubTaskError")
    ]
    if failed:
        parts.append(Text("Failed tasks:", style="bold red"))
        for name, t in failed:
            err = t.error
            layer = f" [{err.layer}]" if err and err.layer else ""
            line = Text(f"  {name}{layer} {t.stage}/{t.name}: ")
            line.append(f"{err.type}: {err.message}" if err else "failed", style="red")
            parts.append(line)

    attention = [c for c in report.checks if c.status in (Status.FAIL, Status.WARN)]
    if attention:
        parts.append(Text("Checks needing attention:", style="bold"))
        for c in attention:
            mark = Text(
                f"  {str(c.status).upper()} ", style="red" if c.failed else "yellow"
            ).append(f"{c.host} [{c.layer}] {c.name}: {c.evidence}", style="")
            parts.append(mark)
            if c.remedy:
                parts.append(Text(f"       remedy: {c.remedy}", style="dim"))
    return parts


def render_summary(report: RunReport, color: bool = False, width: int = 100) -> str:
    """Return the end-of-run summary: hosts x ok/changed/failed, failed tasks, failed checks.

    With ``color=False`` the text has no escape codes (for logs and pipes).
    """
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        force_terminal=color,
        color_system="standard" if color else None,
        no_color=not color,
        width=width,
        highlight=False,
        emoji=False,
        legacy_windows=False,
    )
    console.print(Group(*_summary_renderables(report, color)), markup=False, soft_wrap=False)
    return buffer.getvalue()


def print_summary(
    report: RunReport, stream: TextIO | None = None, color: bool | None = None
) -> None:
    """Print the summary to ``stream`` (default stderr); colour only on a TTY unless told."""
    out = stream or sys.stderr
    if color is None:
        color = bool(getattr(out, "isatty", lambda: False)())
    out.write(render_summary(report, color=color))
    out.flush()
