"""Commands that run runbooks: ``deploy``, ``run NAME`` (and `run_runbook` for the others)."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

import click

from nornir_homehub.cli.common import EXIT_FAILED, EXIT_OK, AppContext, handle_errors, pass_app
from nornir_homehub.cli.options import RunOptions, host_command_options
from nornir_homehub.preflight import parse_stacks


def run_runbook(
    app: AppContext,
    name: str,
    run: RunOptions,
    options: dict[str, Any],
    before_summary: Callable[[Any], None] | None = None,
    *,
    cli_terms: tuple[str, ...] = (),
    contacts_all: bool = False,
) -> None:
    """Load runbook ``name``, check its options and hosts, run it (`commands.run_runbook`).

    Everything that can be wrong with the input (runbook, options, filters, inventory,
    connection files) is checked before the first connection; then print, exit 0/1.
    ``options`` come from the CLI's own flags, ``cli_terms`` are ``-o KEY=VALUE`` strings.
    ``before_summary(report)`` prints extra lines before the summary (not with ``--json``).
    ``contacts_all``: the runbook connects to every selected host (deploy), so their known_hosts
    and key files are checked first too (`AppContext.targets`).
    """
    from nornir_homehub import commands
    from nornir_homehub.cli.output import print_run
    from nornir_homehub.runbook_loader import load_runbook_spec

    book = load_runbook_spec(app.settings, name)
    checked = book.check(options)
    checked.update(book.parse_cli(cli_terms))
    nr = app.targets(run.filters) if contacts_all else app.select(run.filters)
    rep = commands.run_runbook(book, nr, app.settings, checked, **run.params())
    if before_summary is not None and not run.as_json:
        before_summary(rep)
    print_run(rep, as_json=run.as_json)
    sys.exit(EXIT_OK if rep.ok else EXIT_FAILED)


@click.command("deploy")
@host_command_options
@click.option(
    "--stacks", default=None, help="Comma-separated stacks to deploy (like --tags): ollama,qdrant."
)
@click.option("--force", is_flag=True, help="Run compose up even when nothing changed.")
@click.option("--no-verify", is_flag=True, help="Skip the verify stage.")
@click.option(
    "--no-rollback",
    is_flag=True,
    help="Keep a stack whose health wait failed as it is (no automatic rollback), to debug it.",
)
@click.option(
    "--pull",
    is_flag=True,
    help="Pull every image first; recreate the services whose tag now names another image.",
)
@pass_app
@handle_errors
def deploy(
    app: AppContext,
    run: RunOptions,
    stacks: str | None,
    force: bool,
    no_verify: bool,
    no_rollback: bool,
    pull: bool,
) -> None:
    """Roll out in the guide's order: DNS -> compute stacks -> trusted stacks -> verify."""
    only = parse_stacks(stacks, app.settings.stacks_path)
    options = {"stacks": only, "force": force, "verify": not no_verify, "pull": pull}
    if no_rollback:
        options["rollback"] = False
    run_runbook(app, "deploy", run, options, contacts_all=True)


class RunCommand(click.Command):
    """``run``: its help also shows the options of the runbook named before ``--help``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Remember the runbook named on a ``--help`` command line, then parse as usual."""
        if any(a in ("-h", "--help") for a in args):
            ctx.meta["homehub.runbook"] = self._first_argument(args)
        return super().parse_args(ctx, args)

    def _first_argument(self, args: list[str]) -> str | None:
        takes_value = {
            name
            for p in self.params
            if isinstance(p, click.Option) and not p.is_flag and not p.count
            for name in p.opts
        }
        skip = False
        for arg in args:
            if skip:
                skip = False
            elif arg.startswith("-"):
                skip = arg in takes_value
            else:
                return arg
        return None

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """After the command's help: the named runbook's options, or how to list them."""
        super().format_epilog(ctx, formatter)
        name = ctx.meta.get("homehub.runbook")
        app = ctx.find_object(AppContext)
        if not name or app is None:
            formatter.write_paragraph()
            formatter.write_text("Runbooks and their options: run --list")
            return
        from nornir_homehub.errors import ConfigError

        try:
            lines = _runbook_lines(app, name)
        except ConfigError as exc:
            lines = [f"(cannot show runbook {name}: {exc})"]
        with formatter.section(f"Runbook {name}"):
            for line in lines:
                formatter.write_text(line)


def _runbook_lines(app: AppContext, name: str) -> list[str]:
    from nornir_homehub.runbook_loader import load_runbook_spec

    book = load_runbook_spec(app.settings, name)
    # "Runbook ``deploy``: the guide's rollout order" -> "the guide's rollout order"
    summary = re.sub(r"^[\w ]*runbook ``\w+``: ", "", book.summary, flags=re.IGNORECASE)
    lines = [summary] if summary else []
    if not book.options:
        lines.append("options: none")
    for o in book.options:
        lines.append(f"-o {o.describe()}")
    return lines


@click.command("run", cls=RunCommand)
@host_command_options
@click.argument("runbook", required=False)
@click.option(
    "-o",
    "--option",
    "opts",
    multiple=True,
    metavar="KEY=VALUE",
    help="Option passed to the runbook's run() (repeatable; see run NAME --help).",
)
@click.option("--list", "list_", is_flag=True, help="List the runbooks and their options.")
@pass_app
@handle_errors
def run_(
    app: AppContext, run: RunOptions, runbook: str | None, opts: tuple[str, ...], list_: bool
) -> None:
    """Run RUNBOOK from the runbooks folder (built-in or your own).

    Each runbook declares its options (name, type, default); an unknown -o or a value of the
    wrong type exits 2 before any host is touched.
    """
    from nornir_homehub.errors import ConfigError
    from nornir_homehub.runbook_loader import available_runbooks

    if list_:
        names = available_runbooks(app.settings)
        if not names:
            folders = ", ".join(str(d) for d in app.settings.runbooks_path)
            click.echo(f"no runbooks in {folders}")
        for name in names:
            try:
                lines = _runbook_lines(app, name)
            except ConfigError as exc:
                lines = [f"cannot be loaded: {exc}"]
            click.echo(f"{name}: {lines[0] if lines else ''}")
            for line in lines[1:]:
                click.echo(f"    {line}")
        return
    if runbook is None:
        raise click.UsageError("Missing argument 'RUNBOOK' (run --list shows them).")
    run_runbook(app, runbook, run, {}, cli_terms=opts)
