"""``render``: write every selected host's rendered stack files to a local folder, offline."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import click

from nornir_homehub.cli.common import AppContext, echo_json, handle_errors, parse_stacks, pass_app
from nornir_homehub.cli.options import OutputPath, filter_option, json_option


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
    from nornir_homehub.errors import ConfigError
    from nornir_homehub.outputs import safe_join
    from nornir_homehub.render import (
        masked_secrets,
        render_host,
        secret_names,
        stacks_for_host,
    )

    only = parse_stacks(app, stacks)
    nr = app.select(filters)
    stacks_dir = app.settings.stacks_path
    hosts = [nr.inventory.hosts[name] for name in sorted(nr.inventory.hosts)]

    from nornir_homehub.inventory import site_vars

    needed: set[str] = set()
    for host in hosts:
        needed |= secret_names(stacks_for_host(site_vars(nr, host), stacks_dir, only))
    if reveal_secrets:
        from nornir_homehub.secrets import load_secrets

        store = load_secrets(app.settings)
        store.require(needed)
        values = {k: v for k, v in store.as_template_vars().items() if k in needed}
    else:
        values = masked_secrets(needed)

    report: dict[str, Any] = {"out": str(out), "masked": not reveal_secrets, "hosts": {}}
    if reveal_secrets and not out.exists():
        from nornir_homehub.report import private_dir

        private_dir(out)
    for host in hosts:
        rendered = render_host(nr, host, stacks_dir, values, only)
        entries = []
        for rs in rendered:
            for f in rs.files.values():
                rel = PurePosixPath(f.path).relative_to(rs.project_dir)
                # Names come from the inventory and templates: never write outside --out.
                dest = safe_join(out, host.name, rs.name, *rel.parts)
                try:
                    _write(dest, f.content, f.mode, out, reveal_secrets)
                except OSError as exc:
                    raise ConfigError(
                        f"render --out: cannot write {dest}: {exc.strerror}"
                    ) from None
            entries.append(rs.to_dict())
            if not as_json:
                for f in rs.files.values():
                    rel = PurePosixPath(f.path).relative_to(rs.project_dir)
                    flag = "  secret" if f.secret else ""
                    click.echo(f"{host.name}/{rs.name}/{rel}  {f.mode:04o}  -> {f.path}{flag}")
        report["hosts"][host.name] = entries
    if as_json:
        echo_json(report)
    else:
        total = sum(len(e["files"]) for v in report["hosts"].values() for e in v)
        masked = " (secrets masked)" if not reveal_secrets else ""
        click.echo(f"rendered {total} files for {len(hosts)} host(s) into {out}{masked}")


def _write(dest: Path, content: bytes, mode: int, out: Path, private: bool) -> None:
    """Write one rendered file (0600 until it has its content, then ``mode``).

    ``private`` (real secrets): every folder between ``out`` and the file becomes 0700.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    folder = dest.parent
    while private and out in folder.parents:
        folder.chmod(0o700)
        folder = folder.parent
    if dest.exists() or dest.is_symlink():
        dest.unlink()
    dest.touch(mode=0o600)
    dest.write_bytes(content)
    dest.chmod(mode)
