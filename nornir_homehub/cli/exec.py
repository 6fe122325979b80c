"""``exec``: run a shell command on the selected hosts in parallel (like ``ansible -m shell``)."""

from __future__ import annotations

import click

from nornir_homehub.cli.common import (
    EXIT_FAILED,
    AppContext,
    echo_json,
    filter_option,
    handle_errors,
    json_option,
    pass_app,
)


@click.command("exec", context_settings={"ignore_unknown_options": True})
@filter_option
@json_option
@click.option("--timeout", type=float, default=None, help="Seconds before the command is stopped.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_app
@handle_errors
def exec_(
    app: AppContext,
    filters: tuple[str, ...],
    as_json: bool,
    timeout: float | None,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND on every selected host and print each host's exit code and output.

    Use ``--`` before the command: ``exec --filter role=compute -- docker ps``.
    """
    from nornir_homehub.connection import CommandResult, close_all
    from nornir_homehub.tasks.exec import run_command

    nr = app.select(filters)
    line = " ".join(command)
    try:
        agg = nr.run(task=run_command, command=line, timeout=timeout, name="exec")
    finally:
        close_all(nr)
    rows = []
    for name in sorted(agg):
        res = agg[name][0]
        if isinstance(res.result, CommandResult):
            rows.append({"host": name, "ok": res.result.ok, **res.result.to_dict(), "error": None})
        else:
            exc = res.exception
            rows.append(
                {
                    "host": name,
                    "ok": False,
                    "exit_code": None,
                    "stdout": "",
                    "stderr": "",
                    "error": f"{type(exc).__name__}: {exc}" if exc else str(res.result),
                }
            )
    if as_json:
        echo_json({"command": line, "hosts": rows})
    else:
        for r in rows:
            status = f"exit {r['exit_code']}" if r["error"] is None else "FAILED"
            click.echo(f"=== {r['host']} ({status})")
            if r["error"]:
                click.echo(f"error: {r['error']}")
            if r["stdout"]:
                click.echo(r["stdout"].rstrip("\n"))
            if r["stderr"]:
                click.echo(r["stderr"].rstrip("\n"), err=True)
    if not all(r["ok"] for r in rows):
        raise SystemExit(EXIT_FAILED)
