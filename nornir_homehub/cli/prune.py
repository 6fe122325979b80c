"""``prune``: remove unused images of the stacks' repositories beyond ``--keep``, dry run first.

``prune --json`` prints `PruneReport.to_dict` (see `nornir_homehub.prune`); the run report goes
to ``--report`` and the history. Exit 0 when everything went as planned, 1 when a host could
not be read or a removal failed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from nornir_homehub.cli.common import AppContext, handle_errors, pass_app
from nornir_homehub.cli.options import filter_option, json_option, report_option
from nornir_homehub.cli.output import print_table

if TYPE_CHECKING:
    from nornir_homehub.engine import RunParams


@click.command("prune")
@filter_option
@click.option("--dry-run", is_flag=True, help="List what would go and why; remove nothing.")
@click.option(
    "--keep",
    type=click.IntRange(min=0),
    default=None,
    help="Unused images kept per repository, newest first (default: images_keep, else 1).",
)
@report_option
@json_option
@pass_app
@handle_errors
def prune(
    app: AppContext,
    filters: tuple[str, ...],
    dry_run: bool,
    keep: int | None,
    report: Path | None,
    as_json: bool,
) -> None:
    """Remove images of the stacks' repositories that no container uses, beyond --keep.

    Also removes each stack's releases beyond releases_keep (the current one stays). The image
    a stack's compose file names now and any image a container (running or stopped) uses
    always stay; removal is by image id, never forced. Exit 1 when a host could not be read
    or a removal failed.
    """
    from nornir_homehub.prune import prune_images

    run: RunParams = {"argv": sys.argv[1:], "filters": filters, "report_path": report}
    run["dry_run"] = dry_run
    found = prune_images(app.targets(filters), app.settings, keep=keep, **run)
    print_table(found, as_json=as_json)
