"""``init`` and ``import-ansible``: start a new site, from scratch or from an Ansible inventory.

Neither reads the current config or connects anywhere.
"""

from __future__ import annotations

from pathlib import Path

import click

from nornir_homehub.cli.common import echo_json, handle_errors
from nornir_homehub.cli.options import json_option, vault_password_file_option


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--domain", default="homehub.example", show_default=True, help="The site's domain.")
@click.option(
    "--host",
    "hosts",
    multiple=True,
    metavar="ROLE=NAME@ADDRESS",
    help="A host of the site (repeatable); roles without one get a placeholder host.",
)
@vault_password_file_option(
    "Use this vault password (default: generate one into DIRECTORY/.vault_pass, 0600)."
)
@click.option("--timezone", default="UTC", show_default=True, help="The containers' TZ.")
@json_option
@handle_errors
def init(
    directory: Path,
    domain: str,
    hosts: tuple[str, ...],
    vault_password_file: Path | None,
    timezone: str,
    as_json: bool,
) -> None:
    """Scaffold a new site in DIRECTORY: config, inventory, encrypted vault, .gitignore, README.

    The vault holds freshly generated strong secrets; `--config DIRECTORY/config.yaml render`
    works right away.
    """
    from nornir_homehub.scaffold import init_site, parse_host_option

    result = init_site(
        directory,
        domain=domain,
        hosts=[parse_host_option(h) for h in hosts],
        password_file=vault_password_file,
        timezone=timezone,
    )
    if as_json:
        echo_json(result.to_dict())
        return
    for path in result.files:
        click.echo(f"wrote {path}")
    if result.password_generated:
        click.echo(f"vault password generated into {directory / '.vault_pass'} (0600): keep it")
    click.echo(f"next: homehub --config {directory / 'config.yaml'} render --out render-out")


@click.command("import-ansible")
@click.argument("inventory", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="New site."
)
@click.option(
    "--role",
    "roles",
    multiple=True,
    metavar="GROUP=ROLE",
    help="Map an Ansible group to a role (trusted, compute, dns); repeatable.",
)
@vault_password_file_option("The Ansible vault password file; the new config references it.")
@json_option
@handle_errors
def import_ansible_(
    inventory: Path,
    out: Path,
    roles: tuple[str, ...],
    vault_password_file: Path | None,
    as_json: bool,
) -> None:
    """Write a site from an Ansible INVENTORY (file or folder, with group_vars/host_vars).

    Groups named trusted, compute or dns map to those roles; --role maps others. The Ansible
    vault is referenced, never re-encrypted; inline !vault values are copied as they are.
    """
    from nornir_homehub.ansible_import import import_ansible, parse_role_options

    result = import_ansible(
        inventory, out, roles=parse_role_options(roles), password_file=vault_password_file
    )
    if as_json:
        echo_json(result.to_dict())
        return
    for host, role in result.hosts.items():
        click.echo(f"host {host}: role {role}")
    for host in result.skipped:
        click.echo(f"host {host}: not imported (no role; map its group with --role GROUP=ROLE)")
    for path in result.vault_files:
        click.echo(f"vault referenced: {path}")
    if result.inline_secrets:
        click.echo(f"inline vault values copied: {', '.join(result.inline_secrets)}")
    for note in result.notes:
        click.echo(f"note: {note}")
    click.echo(f"wrote {out}; next: homehub --config {out / 'config.yaml'} render --out r")
