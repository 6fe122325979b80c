"""``exec``: run a shell command on the selected hosts in parallel (like ``ansible -m shell``)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nornir_homehub.cli.common import EXIT_FAILED, AppContext, echo_json, handle_errors, pass_app
from nornir_homehub.cli.options import filter_option, json_option, junit_option, report_option


@click.command("exec", context_settings={"ignore_unknown_options": True})
@filter_option
@report_option
@junit_option("host")
@json_option
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds before the command is stopped.",
)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_app
@handle_errors
def exec_(
    app: AppContext,
    filters: tuple[str, ...],
    report: Path | None,
    junit: Path | None,
    as_json: bool,
    timeout: float | None,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND on every selected host and print each host's exit code and output.

    Use ``--`` before the command: ``exec --filter role=compute -- docker ps``.
    ``--json`` prints ``{"command", "run_id", "hosts": [...]}``; the run report goes to
    ``--report``/``--junit`` and the history.
    """
    from nornir_homehub.commands import exec_command
    from nornir_homehub.errors import ConfigError
    from nornir_homehub.secrets import redact_all

    line = " ".join(command)
    if not line.strip():
        raise ConfigError("exec: empty command; give it after --, e.g. exec -- docker ps")
    results = exec_command(
        line,
        app.targets(filters),
        app.settings,
        timeout=timeout,
        argv=sys.argv[1:],
        filters=filters,
        report_path=report,
        junit_path=junit,
        # Progress lines only help on a terminal; piped, stdout already says it all.
        progress=not as_json and sys.stderr.isatty(),
    )
    if redact_all(line) != line:
        # Known only once the vault is loaded (inside exec_command): said after the run.
        click.echo(
            "warning: the command line holds a secret: every user of the host could read it "
            "in the process list while it ran; give secrets on stdin or in a 0600 file instead",
            err=True,
        )
    if as_json:
        echo_json(results.to_dict())
    else:
        for r in results:
            click.echo(r.heading())
            if r.error:
                click.echo(f"error: {r.error}")
            if r.stdout:
                click.echo(r.stdout.rstrip("\n"))
            if r.stderr:
                click.echo(r.stderr.rstrip("\n"), err=True)
    if not results.ok:
        raise SystemExit(EXIT_FAILED)
