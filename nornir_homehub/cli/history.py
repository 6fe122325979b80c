"""``history``: list the recent runs kept in the local history (``.homehub/runs/``)."""

from __future__ import annotations

import click

from nornir_homehub.cli.common import AppContext, echo_json, handle_errors, pass_app
from nornir_homehub.cli.options import json_option


@click.command("history")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="How many runs to list, newest first.",
)
@json_option
@pass_app
@handle_errors
def history(app: AppContext, limit: int, as_json: bool) -> None:
    """List recent runs, newest first: when, which command, result, hosts failed/changed."""
    from nornir_homehub.report import list_history

    history_dir = app.settings.history_dir
    entries = list_history(history_dir, limit)
    if as_json:
        echo_json({"history_dir": str(history_dir), "runs": [e.to_dict() for e in entries]})
        return
    if not entries:
        click.echo(f"no runs recorded yet in {history_dir}", err=True)
        return
    width = max(len(e.command) for e in entries)
    click.echo(
        f"{'STARTED (UTC)':<19}  {'RUN ID':<12}  {'COMMAND':<{width}}  {'RESULT':<10}  "
        f"{'HOSTS':>5}  {'FAILED':>6}  {'CHANGED':>7}  {'TIME':>7}  NOTE"
    )
    for e in entries:
        notes = []
        if e.dry_run:
            notes.append("dry run")
        if e.stopped_at:
            notes.append(f"stopped at {e.stopped_at}")
        click.echo(
            f"{e.started[:19].replace('T', ' '):<19}  {e.run_id:<12}  {e.command:<{width}}  "
            f"{e.status:<10}  {e.hosts:>5}  {e.hosts_failed:>6}  {e.hosts_changed:>7}  "
            f"{e.duration_s:>6.1f}s  {', '.join(notes)}"
        )
