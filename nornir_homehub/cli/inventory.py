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
    from nornir_homehub.views import InventoryTable

    table = InventoryTable.of(app.select(filters), filters)
    if as_json:
        echo_json(table.to_dict())
        return
    rows = table.rows
    width = max((len(r["name"]) for r in rows), default=4)
    click.echo(f"{'NAME':<{width}}  {'ROLE':<8}  {'ADDRESS':<15}  GROUPS")
    for r in rows:
        click.echo(
            f"{r['name']:<{width}}  {r['role'] or '-':<8}  {r['hostname'] or '-':<15}  "
            f"{','.join(r['groups'])}"
        )
