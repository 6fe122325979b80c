"""``status``, ``drift``, ``logs``: see what runs where and what drifted; change nothing.

``status --json`` prints `StatusTable.to_dict`, ``drift --json`` `DriftReport.to_dict` (see
`nornir_homehub.operate_views`); the run report goes to ``--report`` and the history. ``drift``
exits 0 when nothing drifted and 1 when something did (or a host could not be compared).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nornir_homehub.cli.common import EXIT_FAILED, AppContext, echo_json, handle_errors, pass_app
from nornir_homehub.cli.options import filter_option, json_option, report_option


def _since(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    from nornir_homehub.operate import valid_since

    if value is not None and not valid_since(value):
        raise click.BadParameter(
            f"{value!r} is not a duration (10m, 1h30m), a Unix time or a date "
            "(2026-12-01, 2026-12-01T09:00:00Z)",
            param_hint="'--since'",
        )
    return value


@click.command("status")
@filter_option
@report_option
@json_option
@pass_app
@handle_errors
def status(app: AppContext, filters: tuple[str, ...], report: Path | None, as_json: bool) -> None:
    """Hosts x stacks: container state, health, image and digest, uptime, restarts, release, drift.

    The release is the stack's state record (the hash of the files the last completed deploy
    applied, and when). Exit 1 when a host could not be read.
    """
    from nornir_homehub.operate import stack_status

    table = stack_status(
        app.targets(filters), app.settings, argv=sys.argv[1:], filters=filters, report_path=report
    )
    if as_json:
        echo_json(table.to_dict())
    else:
        click.echo(repr(table))
    if not table.ok:
        raise SystemExit(EXIT_FAILED)


@click.command("drift")
@filter_option
@report_option
@json_option
@pass_app
@handle_errors
def drift(app: AppContext, filters: tuple[str, ...], report: Path | None, as_json: bool) -> None:
    """Compare what runs with what is desired (files, containers, zone records); change nothing.

    One line per drifted item with the command that fixes it. Exit 0: no drift; 1: drift, or a
    host could not be compared.
    """
    from nornir_homehub.operate import find_drift

    found = find_drift(
        app.targets(filters), app.settings, argv=sys.argv[1:], filters=filters, report_path=report
    )
    if as_json:
        echo_json(found.to_dict())
    else:
        for line in found.lines():
            click.echo(line)
        summary = f"{len(found)} drifted" if found.drifted else "no drift"
        click.echo(f"{summary}; compared: {', '.join(found.checked) or 'nothing'}", err=True)
    if found.drifted or found.errors:
        raise SystemExit(EXIT_FAILED)


@click.command("logs")
@filter_option
@click.option("--since", default=None, callback=_since, help="Only lines since: 10m, 1h, a date.")
@click.option(
    "--tail", type=click.IntRange(min=0), default=None, help="Last N lines of each container."
)
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until Ctrl-C.")
@click.argument("stack")
@pass_app
@handle_errors
def logs(
    app: AppContext,
    filters: tuple[str, ...],
    since: str | None,
    tail: int | None,
    follow: bool,
    stack: str,
) -> None:
    """Print the logs of STACK's containers on every host that runs it (``host container |``).

    Secret values are redacted. Exit 1 when a host's logs could not be read; exit 2 for an unknown
    stack, before any host is touched.
    """
    from nornir_homehub.operate import stack_hosts, stack_logs

    stack_hosts(app.select(filters), app.settings, stack)  # exit 2 before any key is checked
    report = stack_logs(
        stack,
        app.targets(filters),
        app.settings,
        click.echo,
        tail=tail,
        since=since,
        follow=follow,
        argv=sys.argv[1:],
        filters=filters,
    )
    if report.failed_hosts:
        raise SystemExit(EXIT_FAILED)
