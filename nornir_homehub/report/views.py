"""How a report looks outside JSON: the check line, flat rows, a DataFrame, a repr, HTML.

The check line (``STATUS host name: evidence``, then an indented ``remedy:`` line when the
check did not pass) is written here only: ``check``, ``verify``, the end-of-run summary and
`RunReport.check_lines` (notebooks) all print `check_lines`. `RunReport` delegates its other
notebook views (``task_rows()``, ``to_dataframe()``, ``repr``, ``_repr_html_``) to these
functions.
"""

from __future__ import annotations

import html
import importlib
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any, Literal

from nornir_homehub.checks.model import Check, Status

if TYPE_CHECKING:
    from nornir_homehub.report.model import CheckRecord, RunReport

REMEDY_INDENT = "     "


def check_line(check: Check, *, layer: bool = False) -> str:
    """``FAIL host name: evidence`` (``FAIL host [layer] name: evidence`` with ``layer``)."""
    where = f" [{check.layer}]" if layer else ""
    return f"{str(check.status).upper():4} {check.host}{where} {check.name}: {check.evidence}"


def remedy_line(check: Check) -> str | None:
    """``     remedy: ...`` under a check that did not pass; None when there is nothing to do."""
    if not check.remedy or check.status is Status.PASS:
        return None
    return f"{REMEDY_INDENT}remedy: {check.remedy}"


def check_lines(
    checks: Iterable[Check], *, layer: bool = False, only: Collection[Status] | None = None
) -> list[str]:
    """One `check_line` per check, each followed by its `remedy_line` when it has one.

    Args:
        checks: the checks, in the order to print them.
        layer: name each check's layer (``[dns]``) after the host.
        only: print only the checks of these statuses (all when None).

    """
    lines: list[str] = []
    for c in checks:
        if only is not None and c.status not in only:
            continue
        lines.append(check_line(c, layer=layer))
        remedy = remedy_line(c)
        if remedy is not None:
            lines.append(remedy)
    return lines


def change_lines(report: RunReport) -> list[str]:
    """What a run changed or would change, host by host: each task's diff, compose plans.

    A diff comes under a ``--- host task ---`` line; a stack task's plan reads ``host task:
    would compose up (recreate ollama): ...`` (``did`` when not a dry run). Each item may
    span several lines (a diff).
    """
    lines: list[str] = []
    for host, rec in report.hosts.items():
        for t in rec.tasks:
            if t.diff:
                lines.append(f"--- {host} {t.name} ---")
                lines.append(t.diff.rstrip("\n"))
            res = t.result if isinstance(t.result, dict) else {}
            if res.get("action") not in (None, "none"):
                verb = "would" if report.dry_run else "did"
                why = "; ".join(res.get("reasons") or [])
                recreate = res.get("recreate") or []
                extra = f" (recreate {', '.join(recreate)})" if recreate else ""
                lines.append(f"{host} {t.name}: {verb} compose {res['action']}{extra}: {why}")
    return lines


def dataframe(rows: list[dict[str, Any]], owner: str, without: str) -> Any:
    """``rows`` as a pandas DataFrame for ``owner.to_dataframe()``.

    Raises:
        ImportError: pandas is not installed; the message names the extra and ``without``
            (what gives the same rows without pandas).

    """
    try:
        pd = importlib.import_module("pandas")
    except ImportError:
        raise ImportError(
            f"{owner}.to_dataframe() needs pandas: pip install 'nornir_homehub[pandas]' "
            f"({without} without it)"
        ) from None
    return pd.DataFrame(rows)


def task_rows(report: RunReport) -> list[dict[str, Any]]:
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
        for host, record in report.hosts.items()
        for t in record.tasks
    ]


def check_rows(report: RunReport) -> list[dict[str, Any]]:
    """One flat row per check."""
    return [{k: v for k, v in c.to_dict().items() if k != "data"} for c in report.checks]


def report_dataframe(report: RunReport, what: Literal["tasks", "checks"] = "tasks") -> Any:
    """The task rows (or check rows) of ``report`` as a pandas DataFrame.

    Raises:
        ImportError: pandas is not installed (``pip install 'nornir_homehub[pandas]'``).

    """
    rows = task_rows(report) if what == "tasks" else check_rows(report)
    return dataframe(rows, "RunReport", "task_rows() and check_rows() give the same rows")


def _status_word(report: RunReport) -> str:
    if report.incomplete:
        return "INCOMPLETE"
    return "ok" if report.ok else "FAILED"


def report_repr(report: RunReport) -> str:
    """One line: command, outcome, run id, host and check counts, duration."""
    s = report.summary
    stop = f" stopped_at={report.stopped_at.stage!r}" if report.stopped_at else ""
    dry = " dry_run" if report.dry_run else ""
    return (
        f"<RunReport {report.command} {_status_word(report)}{dry} run_id={report.run_id} "
        f"hosts={s['hosts']} failed={s['hosts_failed']} changed={s['hosts_changed']} "
        f"checks_failed={s['checks_fail']}{stop} {report.duration_s:.1f}s>"
    )


def report_html(report: RunReport) -> str:
    """The Jupyter view: a title line, where the run stopped, one table row per host."""
    esc = html.escape
    checks_by_host: dict[str, list[CheckRecord]] = {}
    for c in report.checks:
        checks_by_host.setdefault(c.host, []).append(c)
    rows = []
    for name, host in report.hosts.items():
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
        f"<p>stopped at stage <b>{esc(report.stopped_at.stage)}</b>: "
        f"{esc(report.stopped_at.reason)}</p>"
        if report.stopped_at
        else ""
    )
    return (
        f"<p><b>{esc(report.command)}</b> {esc(_status_word(report))}"
        f"{' (dry run)' if report.dry_run else ''}, run {esc(report.run_id)}, "
        f"{report.duration_s:.1f}s</p>{stop}"
        "<table><thead><tr><th>host</th><th>ok</th><th>changed</th><th>failed</th>"
        f"<th>checks</th><th>status</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _check_counts(checks: Iterable[CheckRecord]) -> str:
    counts: dict[Status, int] = {}
    for c in checks:
        counts[c.status] = counts.get(c.status, 0) + 1
    return ", ".join(f"{counts[s]} {s}" for s in Status if s in counts)
