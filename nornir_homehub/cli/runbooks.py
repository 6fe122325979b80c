"""Commands that run runbooks: ``deploy``, ``run NAME``; the shared options and output."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class RunOptions:
    """The options every host-touching command shares (see `host_command_options`)."""

    filters: tuple[str, ...] = ()
    dry_run: bool = False
    report: Path | None = None
    junit: Path | None = None
    as_json: bool = False
    keep_going: bool = False


_COMMON = ("filters", "dry_run", "report", "junit", "as_json", "keep_going")


def host_command_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--filter``, ``--dry-run``, ``--report``, ``--junit``, ``--json``, ``--keep-going``.

    The command function receives them packed as one ``run: RunOptions`` argument.
    """

    @functools.wraps(fn)
    def packed(*args: Any, **kwargs: Any) -> Any:
        run = RunOptions(**{k: kwargs.pop(k) for k in _COMMON})
        return fn(*args, run=run, **kwargs)

    wrapped: Callable[..., Any] = packed
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
        wrapped = opt(wrapped)
    return wrapped


def run_runbook(
    app: AppContext,
    name: str,
    run: RunOptions,
    options: dict[str, Any],
    before_summary: Callable[[Any], None] | None = None,
) -> None:
    """Select hosts, run runbook ``name`` through `api.execute`, print, exit 0/1.

    ``before_summary(report)`` prints extra lines before the summary (not with ``--json``).
    """
    from nornir_homehub.api import execute, load_runbook
    from nornir_homehub.cli.output import print_run

    nr = app.select(run.filters)
    fn = load_runbook(app.settings, name)
    rep = execute(
        name,
        nr,
        app.settings,
        lambda nr_, ctx: fn(nr_, ctx, **options),
        argv=sys.argv[1:],
        filters=run.filters,
        dry_run=run.dry_run,
        keep_going=run.keep_going,
        report_path=run.report,
        junit_path=run.junit,
        progress=not run.as_json,
    )
    if before_summary is not None and not run.as_json:
        before_summary(rep)
    print_run(rep, as_json=run.as_json)
    sys.exit(EXIT_OK if rep.ok else EXIT_FAILED)


def split_stacks(stacks: str | None) -> list[str] | None:
    """``--stacks a,b`` as a list (None when not given)."""
    return [s.strip() for s in stacks.split(",") if s.strip()] if stacks else None


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
    app: AppContext, run: RunOptions, stacks: str | None, force: bool, no_verify: bool
) -> None:
    """Roll out in the guide's order: DNS -> compute stacks -> trusted stacks -> verify."""
    options = {"stacks": split_stacks(stacks), "force": force, "verify": not no_verify}
    run_runbook(app, "deploy", run, options)


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
def run_(app: AppContext, run: RunOptions, runbook: str, opts: tuple[str, ...]) -> None:
    """Run RUNBOOK from the runbooks folder (built-in or your own)."""
    from nornir_homehub.errors import ConfigError

    options: dict[str, Any] = {}
    for o in opts:
        key, sep, value = o.partition("=")
        if not sep:
            raise ConfigError(f"malformed runbook option {o!r}: expected KEY=VALUE")
        options[key.strip()] = _option_value(value)
    run_runbook(app, runbook, run, options)


def _option_value(text: str) -> Any:
    """A ``-o`` value as a YAML scalar: ``false`` -> False, ``3`` -> 3, anything else a string."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, bool | int | float) or value is None else text
