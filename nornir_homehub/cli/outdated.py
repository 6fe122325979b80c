"""``outdated``: list the stacks whose tag now names a new digest in its registry; change nothing.

``outdated --json`` prints `OutdatedReport.to_dict` (see `nornir_homehub.outdated`). Exit 0
when nothing is outdated, 1 when something is (or a host could not be asked), 2 on bad input.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nornir_homehub.cli.common import AppContext, handle_errors, pass_app
from nornir_homehub.cli.options import filter_option, json_option, report_option
from nornir_homehub.cli.output import print_table


@click.command("outdated")
@filter_option
@report_option
@json_option
@pass_app
@handle_errors
def outdated(app: AppContext, filters: tuple[str, ...], report: Path | None, as_json: bool) -> None:
    """List the stacks whose image tag now names a new digest in its registry (notify only).

    Each host asks the registry (Registry HTTP API v2, anonymous tokens for Docker Hub, GHCR,
    Quay; `insecure_registries` over plain HTTP). Exit 0 when nothing is outdated, 1 when
    something is or a host could not be asked.
    """
    from nornir_homehub.outdated import find_outdated

    found = find_outdated(
        app.targets(filters), app.settings, argv=sys.argv[1:], filters=filters, report_path=report
    )
    print_table(found, as_json=as_json)
