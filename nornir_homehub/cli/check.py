"""``check``: verification checks (``check gpu``, ``check ollama``), one line per check.

Plain output: ``STATUS host name: evidence`` and, when not passing, an indented remedy line.
``--json``: ``{"command": ..., "checks": [...], "summary": {...}}`` on stdout only.
Exit 0 unless a check failed (1); configuration errors exit 2.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from nornir_homehub.cli.common import (
    EXIT_FAILED,
    AppContext,
    echo_json,
    filter_option,
    handle_errors,
    json_option,
    pass_app,
    redact,
)

if TYPE_CHECKING:
    from nornir_homehub.checks.model import Check


def run_checks(
    app: AppContext,
    filters: tuple[str, ...],
    task: Callable[..., Any],
    *,
    title: str,
    **kwargs: Any,
) -> list[Check]:
    """Run a check task on the selected hosts; a host whose task raised gets one failed check.

    Args:
        app: the CLI context.
        filters: ``--filter`` terms.
        task: a Nornir task returning ``Result(result=list[Check])``.
        title: the command's name (``check gpu``), for the check of a host that raised.
        **kwargs: passed to the task.

    Returns:
        Every host's checks, hosts in name order.

    Raises:
        ConfigError: bad filter, bad inventory, or a task found bad inventory data.

    """
    from nornir_homehub.checks.model import Check, Layer, Status
    from nornir_homehub.connection import close_all
    from nornir_homehub.errors import ConfigError

    nr = app.select(filters)
    try:
        agg = nr.run(task=task, name=title, **kwargs)
    finally:
        close_all(nr)
    checks: list[Check] = []
    for name in sorted(agg):
        res = agg[name][0]
        if isinstance(res.exception, ConfigError):
            raise res.exception
        if isinstance(res.result, list) and not res.exception:
            checks += [c for c in res.result if isinstance(c, Check)]
            continue
        exc = res.exception
        checks.append(
            Check(
                name=title.replace("check ", "") + ".host",
                host=name,
                layer=Layer.SSH,
                status=Status.FAIL,
                evidence=redact(f"{type(exc).__name__}: {exc}" if exc else str(res.result)),
                remedy="Check that the host is up and reachable over SSH: "
                f"`python -m nornir_homehub exec --filter name={name} -- true`",
            )
        )
    return checks


def print_checks(checks: list[Check], *, command: str, as_json: bool) -> None:
    """Print checks as plain lines or as one JSON document; exit 1 when one failed."""
    from collections import Counter

    counts = Counter(str(c.status) for c in checks)
    summary = {s: counts.get(s, 0) for s in ("pass", "warn", "fail", "skip")}
    if as_json:
        echo_json({"command": command, "checks": [c.to_dict() for c in checks], "summary": summary})
    else:
        for c in checks:
            click.echo(redact(f"{str(c.status).upper():4} {c.host} {c.name}: {c.evidence}"))
            if c.remedy and c.status != "pass":
                click.echo(redact(f"     remedy: {c.remedy}"))
        click.echo(", ".join(f"{n} {s}" for s, n in summary.items()), err=True)
    if any(c.failed for c in checks):
        raise SystemExit(EXIT_FAILED)


@click.group("check")
def check() -> None:
    """Verify hosts: GPU, Ollama models (one line per check, exit 1 when one fails)."""


@check.command("gpu")
@filter_option
@json_option
@click.option(
    "--nvidia-smi", "smi", default="nvidia-smi", show_default=True, help="nvidia-smi on the host."
)
@pass_app
@handle_errors
def check_gpu_cmd(app: AppContext, filters: tuple[str, ...], as_json: bool, smi: str) -> None:
    """Check the GPU of every selected host with nvidia-smi.

    Driver answers, name, memory, utilisation, temperature and processes; warns above the
    inventory's ``gpu_thresholds`` (default 90 % memory, 85 C); fails when a host whose
    inventory has a ``gpu:`` shows none; skips hosts with ``gpu: null``.
    """
    from nornir_homehub.checks.gpu import check_gpu

    checks = run_checks(app, filters, check_gpu, title="check gpu", smi=smi)
    print_checks(checks, command="check gpu", as_json=as_json)


@check.command("ollama")
@filter_option
@json_option
@click.option(
    "--warmup/--no-warmup",
    default=True,
    show_default=True,
    help="Load each installed model (empty prompt, keep_alive 5m) before reading /api/ps.",
)
@click.option(
    "--warmup-timeout", type=float, default=300.0, show_default=True, help="Seconds per model."
)
@pass_app
@handle_errors
def check_ollama_cmd(
    app: AppContext, filters: tuple[str, ...], as_json: bool, warmup: bool, warmup_timeout: float
) -> None:
    """Check Ollama on the hosts running it: API, installed models, loaded on the GPU.

    The configured models are the inventory's ``ollama_models``; hosts without the ollama
    stack are skipped.
    """
    from nornir_homehub.checks.ollama import check_ollama

    checks = run_checks(
        app,
        filters,
        check_ollama,
        title="check ollama",
        warmup=warmup,
        warmup_timeout=warmup_timeout,
    )
    print_checks(checks, command="check ollama", as_json=as_json)
