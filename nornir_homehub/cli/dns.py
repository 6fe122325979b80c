"""``dns``: deploy the homehub zone on the dns host(s) (runbook ``dns``); ``--dry-run`` diffs."""

from __future__ import annotations

import click

from nornir_homehub.cli.common import AppContext, handle_errors, pass_app
from nornir_homehub.cli.runbooks import RunOptions, host_command_options, run_runbook


@click.command("dns")
@host_command_options
@click.option("--no-verify", is_flag=True, help="Skip querying the dns host after the update.")
@pass_app
@handle_errors
def dns_(app: AppContext, run: RunOptions, no_verify: bool) -> None:
    """Update the zone from inventory on the dns host, reload named, check what it serves.

    Records: host A records, public_services/internal_services CNAMEs, dns_records; names in
    dns_absent must not resolve. ``--dry-run`` prints the zone diff and the serial it would
    set and changes nothing. A record named cannot load fails before anything is replaced.
    """
    run_runbook(app, "dns", run, {"verify": not no_verify})
