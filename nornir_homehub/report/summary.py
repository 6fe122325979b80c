"""The end-of-run summary on the terminal: hosts x ok/changed/failed, failed tasks and checks.

`render_summary` returns it as text (colour only when asked), `print_summary` writes it to
stderr (or a stream): the text view of a `RunReport`, as `nornir_homehub.report.views` holds
its notebook views.
"""

from __future__ import annotations

import io
import sys
from typing import TYPE_CHECKING, Any, TextIO

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from nornir_homehub.checks.model import Status
from nornir_homehub.report.views import check_line, remedy_line

if TYPE_CHECKING:
    from nornir_homehub.report.model import RunReport


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
            status, rest = check_line(c, layer=True).split(" ", 1)
            style = "red" if c.failed else "yellow"
            parts.append(Text(f"  {status} ", style=style).append(rest, style=""))
            remedy = remedy_line(c)
            if remedy is not None:
                parts.append(Text(f"  {remedy}", style="dim"))
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
