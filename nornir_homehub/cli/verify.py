"""``verify``: every check of the guide's Verification section, one line per check.

Plain output: ``STATUS host name: evidence`` per check (remedy indented under the ones not
passing), then the run summary. ``--json``: the run report only. Exit 0 when no check failed,
1 otherwise, 2 on a configuration error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from nornir_homehub.cli.common import AppContext, handle_errors, pass_app
from nornir_homehub.cli.options import RunOptions, host_command_options
from nornir_homehub.cli.runbooks import run_runbook
from nornir_homehub.preflight import parse_stacks

if TYPE_CHECKING:
    from nornir_homehub.report import RunReport


@click.command("verify")
@host_command_options
@click.option("--stacks", default=None, help="Comma-separated stacks to verify: ollama,qdrant.")
@pass_app
@handle_errors
def verify(app: AppContext, run: RunOptions, stacks: str | None) -> None:
    """Check DNS, containers, HTTP readiness, networks, auth, models and GPUs."""
    options = {"stacks": parse_stacks(stacks, app.settings.stacks_path)}
    run_runbook(app, "verify", run, options, before_summary=_print_checks)


def _print_checks(report: RunReport) -> None:
    for line in report.check_lines():
        click.echo(line)
