"""``lab up | down | status``: the local multi-host lab."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from nornir_homehub.cli.common import AppContext, echo_json, handle_errors, pass_app
from nornir_homehub.cli.options import json_option
from nornir_homehub.defaults import DEFAULT_LAB_DIR

if TYPE_CHECKING:
    from nornir_homehub.lab import Lab


def _lab(app: AppContext, extra: int | None = None, light: bool | None = None) -> Lab:
    import nornir_homehub
    from nornir_homehub import builtin
    from nornir_homehub.config import load_settings, read_config
    from nornir_homehub.errors import ConfigError
    from nornir_homehub.lab import Lab

    path = app.config_path
    settings = app.settings if path.exists() else None
    if settings is None or settings.lab_dir is None:
        # A site's config has no lab: use the lab inventory that ships with the package.
        path = builtin.lab_inventory_dir() / "config.yaml"
        settings = load_settings(path, read_config(path))
    if settings.lab_dir is None:
        raise ConfigError(f"{path}: homehub.lab_dir is not set")
    lab_dir = settings.lab_dir
    if lab_dir.resolve().is_relative_to(Path(nornir_homehub.__file__).resolve().parent):
        # An installed package is never written to: the lab's state goes below the cwd.
        lab_dir = Path.cwd() / DEFAULT_LAB_DIR
    raw = read_config(path)
    host_file = Path(raw["inventory"]["options"]["host_file"])
    if not host_file.is_absolute():
        host_file = path.resolve().parent / host_file
    return Lab(lab_dir, host_file, extra_hosts=extra, light=light)


@click.group("lab")
def lab() -> None:
    """The local lab: namespaced hosts with sshd, Docker Engine + Compose v2 and BIND9."""


@lab.command("up")
@click.option(
    "--hosts",
    "total",
    # The lab's limits (lab.model MAX_EXTRA, MAX_LIGHT), not imported: --help stays cold-fast.
    type=click.IntRange(min=3, max=243),
    default=None,
    help="Total hosts: the 3 base hosts + up to 45 compute-like nodes, or up to 240 with "
    "--light (default: as last time).",
)
@click.option(
    "--light",
    is_flag=True,
    default=None,
    help="The extra nodes run sshd only (no Docker Engine), on 203.0.113.0/24: the controller "
    "scale simulation (benchmarks/run.py --workloads 7).",
)
@pass_app
@handle_errors
def up(app: AppContext, total: int | None, light: bool | None) -> None:
    """Bring the lab up (harmless when it is already up)."""
    extra = total - 3 if total is not None else None
    the_lab = _lab(app, extra, light)
    status = the_lab.up(log=lambda m: click.echo(m, err=True))
    for h in status.hosts:
        click.echo(f"{h.name:<8} {h.address:<14} {h.state}")
    click.echo(f"lab config (every path absolute): {the_lab.config_file}", err=True)
    if not status.up:
        raise SystemExit(1)


@lab.command("down")
@click.option("--purge", is_flag=True, help="Also delete the lab folder (keys, image cache).")
@pass_app
@handle_errors
def down(app: AppContext, purge: bool) -> None:
    """Stop every lab process (by PID) and remove namespaces and the bridge."""
    _lab(app).down(purge=purge)
    click.echo("lab down")


@lab.command("status")
@json_option
@pass_app
@handle_errors
def status(app: AppContext, as_json: bool) -> None:
    """Show the lab's hosts, addresses, state and log paths (exit 1 when not up)."""
    st = _lab(app).status()
    if as_json:
        echo_json(st.to_dict())
    else:
        click.echo(f"lab {'up' if st.up else 'down'} ({st.lab_dir})")
        for h in st.hosts:
            click.echo(f"{h.name:<8} {h.address:<13} {h.role:<8} {h.state:<8} {h.sshd_log}")
    if not st.up:
        raise SystemExit(1)
