"""``releases [STACK]`` (every host's releases, newest first) and ``rollback STACK``.

``releases --json`` prints `ReleasesReport.to_dict`; ``rollback`` prints its run like
``deploy`` (``--json``: the report; ``--dry-run``: the diffs and restarts it would make, nothing
changed) and exits 0 when the rollback and the stack's checks passed, 1 otherwise, 2 for bad
input or a held deploy lock.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nornir_homehub.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    AppContext,
    handle_errors,
    pass_app,
)
from nornir_homehub.cli.options import (
    dry_run_option,
    filter_option,
    json_option,
    junit_option,
    report_option,
)
from nornir_homehub.cli.output import print_listing


@click.command("releases")
@click.argument("stack", required=False)
@filter_option
@json_option
@pass_app
@handle_errors
def releases(app: AppContext, stack: str | None, filters: tuple[str, ...], as_json: bool) -> None:
    """List the releases of STACK (every stack without it) on every host, newest first.

    The current release (each stack's newest on a host) is marked with *.
    """
    from nornir_homehub.preflight import parse_stacks
    from nornir_homehub.releases import list_releases

    if stack is not None:
        parse_stacks(stack, app.settings.stacks_path)
    found = list_releases(app.targets(filters), app.settings, stack, argv=sys.argv[1:])
    print_listing(found, as_json=as_json)


@click.command("rollback")
@click.argument("stack")
@click.option(
    "--to", "to", default=None, metavar="RELEASE", help="Release id (or a unique prefix)."
)
@click.option("--no-verify", is_flag=True, help="Skip the stack's checks after the rollback.")
@click.option(
    "--lock-wait",
    type=click.FloatRange(min=0),
    default=0.0,
    metavar="SECONDS",
    help="Wait up to SECONDS for a host's deploy lock another run holds (default: exit 2).",
)
@filter_option
@dry_run_option
@report_option
@junit_option()
@json_option
@pass_app
@handle_errors
def rollback(
    app: AppContext,
    stack: str,
    to: str | None,
    no_verify: bool,
    lock_wait: float,
    filters: tuple[str, ...],
    dry_run: bool,
    report: Path | None,
    junit: Path | None,
    as_json: bool,
) -> None:
    """Return STACK to a release: its files and image digests, compose up, health, checks.

    Default: the previous release. Files with secrets are rendered again from the vault.
    With --dry-run: the file diffs and the restart it would make, nothing changed.
    """
    from nornir_homehub.cli.output import print_run
    from nornir_homehub.releases import rollback as run_rollback

    rep = run_rollback(
        app.targets(filters),
        app.settings,
        stack,
        to,
        verify=not no_verify,
        argv=sys.argv[1:],
        filters=filters,
        dry_run=dry_run,
        report_path=report,
        junit_path=junit,
        progress=not as_json,
        lock_wait=lock_wait,
    )
    print_run(rep, as_json=as_json)
    sys.exit(EXIT_OK if rep.ok else EXIT_FAILED)
