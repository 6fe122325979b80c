"""Commands that run runbooks: ``deploy``, ``run NAME``; the shared options and output."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from nornir_homehub.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    AppContext,
    filter_option,
    handle_errors,
    json_option,
    pass_app,
)

F = TypeVar("F", bound=Callable[..., Any])


def host_command_options(fn: F) -> F:
    """``--filter``, ``--dry-run``, ``--report``, ``--junit``, ``--json``, ``--keep-going``."""
    for opt in reversed(
        [
            filter_option,
            click.option(
                "--dry-run",
                is_flag=True,
                help="Show exact diffs and planned restarts; change nothing.",
            ),
            click.option(
                "--report",
                "report",
                type=click.Path(dir_okay=False, path_type=Path),
                help="Write the JSON report here (always also kept in the history).",
            ),
            click.option(
                "--junit",
                "junit",
                type=click.Path(dir_okay=False, path_type=Path),
                help="Write JUnit XML here.",
            ),
            json_option,
            click.option(
                "--keep-going", is_flag=True, help="A failed stage does not stop the later ones."
            ),
        ]
    ):
        fn = opt(fn)
    return fn


def run_runbook(
    app: AppContext,
    name: str,
    *,
    filters: tuple[str, ...],
    dry_run: bool,
    report: Path | None,
    junit: Path | None,
    as_json: bool,
    keep_going: bool,
    options: dict[str, Any],
    before_summary: Callable[[Any], None] | None = None,
) -> None:
    """Select hosts, run runbook ``name`` through `api.execute`, print, exit 0/1.

    ``before_summary(report)`` prints extra lines before the summary (not with ``--json``).
    """
    from nornir_homehub.api import execute, load_runbook
    from nornir_homehub.cli.output import print_run

    nr = app.select(filters)
    fn = load_runbook(app.settings, name)
    rep = execute(
        name,
        nr,
        app.settings,
        lambda nr_, ctx: fn(nr_, ctx, **options),
        argv=sys.argv[1:],
        filters=filters,
        dry_run=dry_run,
        keep_going=keep_going,
        report_path=report,
        junit_path=junit,
        progress=not as_json,
    )
    if before_summary is not None and not as_json:
        before_summary(rep)
    print_run(rep, as_json=as_json)
    sys.exit(EXIT_OK if rep.ok else EXIT_FAILED)


@click.command("deploy")
@host_command_options
@click.option(
    "--stacks", default=None, help="Comma-separated stacks to deploy (like --tags): ollama,qdrant."
)
@click.option("--force", is_flag=True, help="Run compose up even when nothing changed.")
@click.option("--no-verify", is_flag=True, help="Skip the verify stage.")
@pass_app
@handle_errors
def deploy(
    app: AppContext,
    filters: tuple[str, ...],
    dry_run: bool,
    report: Path | None,
    junit: Path | None,
    as_json: bool,
    keep_going: bool,
    stacks: str | None,
    force: bool,
    no_verify: bool,
) -> None:
    """Roll out in the guide's order: DNS -> compute stacks -> trusted stacks -> verify."""
    only = [s.strip() for s in stacks.split(",") if s.strip()] if stacks else None
    run_runbook(
        app,
        "deploy",
        filters=filters,
        dry_run=dry_run,
        report=report,
        junit=junit,
        as_json=as_json,
        keep_going=keep_going,
        options={"stacks": only, "force": force, "verify": not no_verify},
    )


@click.command("run", context_settings={"ignore_unknown_options": True})
@host_command_options
@click.argument("runbook")
@click.option(
    "-o",
    "--option",
    "opts",
    multiple=True,
    metavar="KEY=VALUE",
    help="Option passed to the runbook's run() (repeatable).",
)
@pass_app
@handle_errors
def run(
    app: AppContext,
    filters: tuple[str, ...],
    dry_run: bool,
    report: Path | None,
    junit: Path | None,
    as_json: bool,
    keep_going: bool,
    runbook: str,
    opts: tuple[str, ...],
) -> None:
    """Run RUNBOOK from the runbooks folder (built-in or your own)."""
    from nornir_homehub.errors import ConfigError

    options: dict[str, Any] = {}
    for o in opts:
        key, sep, value = o.partition("=")
        if not sep:
            raise ConfigError(f"malformed runbook option {o!r}: expected KEY=VALUE")
        options[key.strip()] = _option_value(value)
    run_runbook(
        app,
        runbook,
        filters=filters,
        dry_run=dry_run,
        report=report,
        junit=junit,
        as_json=as_json,
        keep_going=keep_going,
        options=options,
    )


def _option_value(text: str) -> Any:
    """A ``-o`` value as a YAML scalar: ``false`` -> False, ``3`` -> 3, anything else a string."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, bool | int | float) or value is None else text
