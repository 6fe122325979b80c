"""``python -m nornir_homehub``: a thin click layer over the library.

Exit codes: 0 success, 1 a task or check failed, 2 usage or configuration error, 70 an
unexpected error (a bug: one line on stderr, the traceback in a 0600 file it names), 141 when
the reader of stdout went away (``| head``).
"""

from __future__ import annotations

from typing import Any

import click

from nornir_homehub.cli.check import check
from nornir_homehub.cli.common import AppContext, exit_on_error
from nornir_homehub.cli.dns import dns_
from nornir_homehub.cli.exec import exec_
from nornir_homehub.cli.history import history
from nornir_homehub.cli.hostlock import audit, lock
from nornir_homehub.cli.inventory import inventory
from nornir_homehub.cli.lab import lab
from nornir_homehub.cli.models import models
from nornir_homehub.cli.operate import drift, logs, status
from nornir_homehub.cli.outdated import outdated
from nornir_homehub.cli.prune import prune
from nornir_homehub.cli.releases import releases, rollback
from nornir_homehub.cli.render import render
from nornir_homehub.cli.runbooks import deploy, run_
from nornir_homehub.cli.site import import_ansible_, init
from nornir_homehub.cli.verify import verify


class HomehubGroup(click.Group):
    """The command group: package errors exit 2/1 with one line, anything else is a bug (70)."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; never let a traceback reach the terminal."""
        with exit_on_error():
            return super().invoke(ctx)


@click.group(cls=HomehubGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config",
    envvar="HOMEHUB_CONFIG",
    default="config.yaml",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Nornir + homehub config file (env HOMEHUB_CONFIG).",
)
@click.option(
    "--profile",
    is_flag=True,
    help="At the end of a run, print where its time went on stderr: seconds per phase "
    "(connect, render, facts, upload, compose, health, ...) and host (env HOMEHUB_PROFILE=1).",
)
@click.version_option(package_name="nornir_homehub")
@click.pass_context
def cli(ctx: click.Context, config: str, profile: bool) -> None:
    """Deploy and operate the self-hosted AI stack (LiteLLM, Open WebUI, Ollama, Qdrant, BIND9)."""
    import os
    from pathlib import Path

    if profile:
        # Read by the engine (nornir_homehub.engine.PROFILE_ENV) at the end of each run.
        os.environ["HOMEHUB_PROFILE"] = "1"
    ctx.obj = AppContext(Path(config))


# Commands: one module each; register new ones here.
cli.add_command(inventory)
cli.add_command(exec_)
cli.add_command(lab)
cli.add_command(deploy)
cli.add_command(run_)
cli.add_command(check)
cli.add_command(history)
cli.add_command(verify)
cli.add_command(render)
cli.add_command(dns_)
cli.add_command(init)
cli.add_command(import_ansible_)
cli.add_command(status)
cli.add_command(logs)
cli.add_command(drift)
cli.add_command(prune)
cli.add_command(lock)
cli.add_command(audit)
cli.add_command(releases)
cli.add_command(rollback)
cli.add_command(models)
cli.add_command(outdated)


def main() -> None:
    """Console entry point (``homehub`` and ``python -m nornir_homehub``).

    Shell completion is click's, through ``_HOMEHUB_COMPLETE=bash_source homehub`` (or
    ``zsh_source``); the variable name is fixed so that it does not depend on how we were run.
    """
    import sys
    from pathlib import Path

    prog = "homehub" if Path(sys.argv[0]).name == "homehub" else "python -m nornir_homehub"
    cli(prog_name=prog, complete_var="_HOMEHUB_COMPLETE")
