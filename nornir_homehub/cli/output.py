"""Human and machine output of a finished run (summary, diffs, checks) for the CLI."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from nornir_homehub.report import RunReport


def print_run(report: RunReport, *, as_json: bool) -> None:
    """``--json``: only the report on stdout. Otherwise diffs and plans, then the summary."""
    if as_json:
        click.echo(report.to_json())
        return
    from nornir_homehub.report.summary import render_summary
    from nornir_homehub.report.views import change_lines

    for line in change_lines(report):
        click.echo(line)
    click.echo(render_summary(report, color=sys.stdout.isatty()), nl=False)


def print_listing(found: Any, *, as_json: bool) -> None:
    """A listing (``to_dict``, ``lines``, ``ok``): JSON or its lines; exit 1 when not ``ok``.

    For the commands that read every host and change nothing there (``releases``, ``lock``,
    ``audit``): a host that did not answer makes the command fail after printing the rest.
    """
    from nornir_homehub.cli.common import EXIT_FAILED, echo_json

    if as_json:
        echo_json(found.to_dict())
    else:
        for line in found.lines():
            click.echo(line)
    if not found.ok:
        raise SystemExit(EXIT_FAILED)


def print_table(found: Any, *, as_json: bool) -> None:
    """A table report (``prune``, ``outdated``): JSON, or its table and summary; exit 1 if not ok.

    The table goes to stdout and the summary to stderr.
    """
    from nornir_homehub.cli.common import EXIT_FAILED, echo_json

    if as_json:
        echo_json(found.to_dict())
    else:
        click.echo(repr(found))
        click.echo(found.summary(), err=True)
    if not found.ok:
        raise SystemExit(EXIT_FAILED)
