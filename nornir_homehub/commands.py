"""Commands the CLI and `HomeHub` share, built on the engine: an ad-hoc shell command."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from nornir_homehub.engine import RunContext, execute
from nornir_homehub.views import ExecResults, ExecRow

if TYPE_CHECKING:
    from nornir.core import Nornir

    from nornir_homehub.config import Settings


def exec_command(
    command: str,
    nr: Nornir,
    settings: Settings,
    *,
    timeout: float | None = None,
    argv: Iterable[str] = (),
    filters: Iterable[str] = (),
    report_path: Path | None = None,
    junit_path: Path | None = None,
    progress: bool = False,
) -> ExecResults:
    """Run a shell command on ``nr``'s hosts in parallel as stage ``exec``, with a report.

    A host where the command cannot run (SSH down) or exits non-zero fails alone; the others
    finish. The output is returned whole, with every secret value the vault (and the
    environment) holds replaced by ``<secret NAME>``: ``cat`` of a rendered ``.env`` file
    shows its keys, not its values. When the vault cannot be opened, ``redaction_note`` says
    so (only the values known without it are replaced).
    """
    from nornir_homehub.connection import CommandResult
    from nornir_homehub.secrets import redact_all
    from nornir_homehub.tasks.exec import run_command

    rows: list[ExecRow] = []
    notes: list[str | None] = []

    def body(nr_: Nornir, ctx: RunContext) -> None:
        notes.append(ctx.redaction_note)
        # Not a gate: a host where the command failed fails alone (there is no later stage).
        agg = ctx.stage("exec", nr_, run_command, gate=False, command=command, timeout=timeout)
        r = redact_all
        for name in sorted(agg):
            res = agg[name][0]
            if isinstance(res.result, CommandResult):
                out = res.result
                rows.append(
                    ExecRow(name, out.ok, out.exit_code, r(out.stdout), r(out.stderr), None)
                )
            else:
                exc = res.exception
                error = f"{type(exc).__name__}: {exc}" if exc else str(res.result)
                rows.append(ExecRow(name, False, None, "", "", r(error)))

    report = execute(
        "exec",
        nr,
        settings,
        body,
        argv=argv,
        filters=filters,
        report_path=report_path,
        junit_path=junit_path,
        progress=progress,
    )
    return ExecResults(redact_all(command), tuple(rows), report, notes[0] if notes else None)
