"""``dns``: deploy the homehub zone on the dns host(s) (runbook ``dns``); ``--dry-run`` plans."""

from __future__ import annotations

import click

from nornir_homehub.cli.common import AppContext, handle_errors, pass_app
from nornir_homehub.cli.options import RunOptions, host_command_options
from nornir_homehub.cli.runbooks import run_runbook


@click.command("dns")
@host_command_options
@click.option("--no-verify", is_flag=True, help="Skip querying the dns host after the update.")
@click.option("--diff", "file_diff", is_flag=True, help="Also show the zone file's text diff.")
@click.option(
    "--prune",
    is_flag=True,
    help="Allow replacing the values of records nornir_homehub did not write.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Allow what --prune allows, removing conflicting foreign records, changing more than "
    "dns_max_change_percent of the zone, replacing a zone file that does not parse.",
)
@pass_app
@handle_errors
def dns_(
    app: AppContext, run: RunOptions, no_verify: bool, file_diff: bool, prune: bool, force: bool
) -> None:
    """Update the zone from inventory on the dns host, reload named, check what it serves.

    Records: host A records, public_services/internal_services CNAMEs, dns_records; names in
    dns_absent must not resolve. Only those records are nornir_homehub's: everything else in
    the zone is kept, and the file is edited in place. ``--dry-run`` prints the plan record
    by record (added, changed, removed, foreign records kept, the serial and why) and changes
    nothing. A plan that would replace a foreign record (needs --prune), remove a conflicting
    one or change more than dns_max_change_percent of the zone (need --force) exits 1 and
    changes nothing. A record named cannot load fails before anything is replaced.
    """
    options = {"verify": not no_verify, "diff": file_diff, "prune": prune, "force": force}
    run_runbook(app, "dns", run, options)
