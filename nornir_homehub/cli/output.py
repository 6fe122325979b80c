"""Human and machine output of a finished run (summary, diffs, checks) for the CLI."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from nornir_homehub.report import RunReport


def print_run(report: RunReport, *, as_json: bool) -> None:
    """``--json``: only the report on stdout. Otherwise diffs and plans, then the summary."""
    if as_json:
        click.echo(report.to_json())
        return
    from nornir_homehub.report.summary import render_summary

    for host, rec in report.hosts.items():
        for t in rec.tasks:
            if t.diff:
                click.echo(f"--- {host} {t.name} ---")
                click.echo(t.diff.rstrip("\n"))
            res = t.result if isinstance(t.result, dict) else {}
            if res.get("action") not in (None, "none"):
                verb = "would" if report.dry_run else "did"
                why = "; ".join(res.get("reasons") or [])
                recreate = res.get("recreate") or []
                extra = f" (recreate {', '.join(recreate)})" if recreate else ""
                click.echo(f"{host} {t.name}: {verb} compose {res['action']}{extra}: {why}")
    click.echo(render_summary(report, color=sys.stdout.isatty()), nl=False)
