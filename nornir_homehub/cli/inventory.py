"""``inventory``: list hosts and what a filter selects, without connecting."""

from __future__ import annotations

import click

from nornir_homehub.cli.common import AppContext, echo_json, handle_errors, pass_app
from nornir_homehub.cli.options import filter_option, json_option


@click.command("inventory")
@filter_option
@json_option
@pass_app
@handle_errors
def inventory(app: AppContext, filters: tuple[str, ...], as_json: bool) -> None:
    """List hosts with role, address and groups (opens no connection)."""
    from nornir_homehub.inventory import host_summary

    nr = app.select(filters)
    rows = [host_summary(h) for h in nr.inventory.hosts.values()]
    if as_json:
        echo_json({"hosts": rows, "filter": list(filters)})
        return
    width = max((len(r["name"]) for r in rows), default=4)
    click.echo(f"{'NAME':<{width}}  {'ROLE':<8}  {'ADDRESS':<15}  GROUPS")
    for r in rows:
        click.echo(
            f"{r['name']:<{width}}  {r['role'] or '-':<8}  {r['hostname'] or '-':<15}  "
            f"{','.join(r['groups'])}"
        )
