"""``render``: write every selected host's rendered stack files to a local folder, offline."""

from __future__ import annotations

from pathlib import Path

import click

from nornir_homehub.cli.common import AppContext, echo_json, handle_errors, pass_app
from nornir_homehub.cli.options import OutputPath, filter_option, json_option
from nornir_homehub.preflight import parse_stacks


@click.command("render")
@click.option(
    "--out",
    "out",
    required=True,
    type=OutputPath("dir"),
    help="Folder to write DIR/<host>/<stack>/... into (created if missing).",
)
@filter_option
@click.option(
    "--stacks",
    "stacks",
    multiple=True,
    metavar="NAME[,NAME]",
    help="Only these stacks (repeatable or comma-separated), e.g. --stacks ollama,qdrant.",
)
@click.option(
    "--reveal-secrets",
    is_flag=True,
    help="Render the real secrets from the vault (default: MASKED-<name> placeholders).",
)
@json_option
@pass_app
@handle_errors
def render(
    app: AppContext,
    *,
    out: Path,
    filters: tuple[str, ...],
    stacks: tuple[str, ...],
    reveal_secrets: bool,
    as_json: bool,
) -> None:
    """Render the stack files of the selected hosts into --out, connecting nowhere.

    Without --reveal-secrets no vault password is needed: secret variables become placeholders
    (``MASKED-vault_qdrant_api_key``), so ``docker compose config`` still parses the result.
    Files keep their modes (.env files 0600); with --reveal-secrets every folder under --out
    (and --out itself when it is created) is 0700.
    """
    from nornir_homehub.render_local import render_to_folder

    only = parse_stacks(stacks, app.settings.stacks_path)
    result = render_to_folder(
        app.select(filters),
        app.settings,
        out,
        only=only,
        reveal_secrets=reveal_secrets,
        on_file=None if as_json else lambda f: click.echo(f.line()),
    )
    if as_json:
        echo_json(result.to_dict())
    else:
        click.echo(result.summary())
