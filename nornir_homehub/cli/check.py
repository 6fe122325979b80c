"""``check``: verification checks (``check gpu``, ``check ollama``), one line per check.

Plain output: ``STATUS host name: evidence`` and, when not passing, an indented remedy line.
``--json``: ``{"command": ..., "run_id": ..., "checks": [...], "summary": {...}}`` on stdout only
(the full run report goes to ``--report``, ``--junit`` and the history, as for every command).
Exit 0 unless a check failed (1); configuration errors exit 2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from nornir_homehub.cli.common import (
    EXIT_FAILED,
    AppContext,
    echo_json,
    handle_errors,
    pass_app,
    redact,
)
from nornir_homehub.cli.options import RunOptions, check_command_options

if TYPE_CHECKING:
    from nornir_homehub.checks.model import Check


def print_checks(
    checks: list[Check], *, command: str, as_json: bool, run_id: str | None = None
) -> None:
    """Print checks as plain lines or as one JSON document; exit 1 when one failed."""
    from collections import Counter

    from nornir_homehub.report.views import check_lines

    counts = Counter(str(c.status) for c in checks)
    summary = {s: counts.get(s, 0) for s in ("pass", "warn", "fail", "skip")}
    if as_json:
        echo_json(
            {
                "command": command,
                "run_id": run_id,
                "checks": [c.to_dict() for c in checks],
                "summary": summary,
            }
        )
    else:
        for line in check_lines(checks):
            click.echo(redact(line))
        click.echo(", ".join(f"{n} {s}" for s, n in summary.items()), err=True)
    if any(c.failed for c in checks):
        raise SystemExit(EXIT_FAILED)


def _run_checks(app: AppContext, kind: str, run: RunOptions, **task_args: Any) -> None:
    """Run the ``kind`` checks on the selected hosts (`commands.run_check_kind`) and print them."""
    from nornir_homehub.commands import run_check_kind

    checks, rep = run_check_kind(
        kind, app.select(run.filters), app.settings, task_args=task_args, **run.params()
    )
    print_checks(checks, command=f"check {kind}", as_json=run.as_json, run_id=rep.run_id)


def _not_empty(option: str, value: str) -> str:
    if not value.strip():
        raise click.BadParameter("must not be empty", param_hint=f"'{option}'")
    return value


@click.group("check")
def check() -> None:
    """Verify hosts: GPU, Ollama models (one line per check, exit 1 when one fails)."""


@check.command("gpu")
@check_command_options
@click.option(
    "--nvidia-smi",
    "smi",
    default="nvidia-smi",
    show_default=True,
    callback=lambda _c, _p, v: _not_empty("--nvidia-smi", v),
    help="nvidia-smi on the host.",
)
@pass_app
@handle_errors
def check_gpu_cmd(app: AppContext, run: RunOptions, smi: str) -> None:
    """Check the GPU of every selected host with nvidia-smi.

    Driver answers, name, memory, utilisation, temperature and processes; warns above the
    inventory's ``gpu_thresholds`` (default 90 % memory, 85 C); fails when a host whose
    inventory has a ``gpu:`` shows none; skips hosts with ``gpu: null``.
    """
    _run_checks(app, "gpu", run, smi=smi)


@check.command("ollama")
@check_command_options
@click.option(
    "--warmup/--no-warmup",
    default=True,
    show_default=True,
    help="Load each installed model (empty prompt, keep_alive 5m) before reading /api/ps.",
)
@click.option(
    "--warmup-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=300.0,
    show_default=True,
    help="Seconds per model.",
)
@pass_app
@handle_errors
def check_ollama_cmd(app: AppContext, run: RunOptions, warmup: bool, warmup_timeout: float) -> None:
    """Check Ollama on the hosts running it: API, installed models, loaded on the GPU.

    The configured models are the inventory's ``ollama_models``; hosts without the ollama
    stack are skipped.
    """
    _run_checks(app, "ollama", run, warmup=warmup, warmup_timeout=warmup_timeout)
