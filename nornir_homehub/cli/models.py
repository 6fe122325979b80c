"""``models``: hosts x models (installed, digest, size, loaded, GPU or CPU, VRAM); ``--prune``.

``models --json`` prints `ModelsTable.to_dict` (see `nornir_homehub.models_view`); the run
report goes to ``--report`` and the history. ``--prune`` removes the installed models the
inventory's ``ollama_models`` does not list (``--prune --dry-run`` lists them first). Exit 0
when every host was read, 1 when one could not be (or a removal failed).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from nornir_homehub.cli.common import EXIT_FAILED, AppContext, echo_json, handle_errors, pass_app
from nornir_homehub.cli.options import filter_option, json_option, report_option

if TYPE_CHECKING:
    from nornir_homehub.engine import RunParams


@click.command("models")
@filter_option
@click.option(
    "--prune", is_flag=True, help="Remove installed models that ollama_models does not list."
)
@click.option("--dry-run", is_flag=True, help="With --prune: list what would go; remove nothing.")
@report_option
@json_option
@pass_app
@handle_errors
def models(
    app: AppContext,
    filters: tuple[str, ...],
    prune: bool,
    dry_run: bool,
    report: Path | None,
    as_json: bool,
) -> None:
    """Show every Ollama host's models: desired, installed, digest, size, loaded, GPU/CPU, VRAM.

    Nothing is loaded to find out (no warm-up): "loaded" is what Ollama holds now.
    """
    from nornir_homehub.models_view import list_models

    if dry_run and not prune:
        raise click.UsageError("--dry-run goes with --prune (models changes nothing otherwise)")
    run: RunParams = {"argv": sys.argv[1:], "filters": filters, "report_path": report}
    run["dry_run"] = dry_run
    found = list_models(app.targets(filters), app.settings, prune=prune, **run)
    if as_json:
        echo_json(found.to_dict())
    else:
        if found.pruned:
            verb = "would remove" if dry_run else "removed"
            for host, names in sorted(found.pruned.items()):
                for name in names:
                    click.echo(f"{host}: {verb} {name}")
        click.echo(repr(found))
        click.echo(found.summary(), err=True)
    if not found.ok:
        raise SystemExit(EXIT_FAILED)
