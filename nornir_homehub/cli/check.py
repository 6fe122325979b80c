"""``check``: verification checks (``check gpu``, ``check ollama``), one line per check.

Plain output: ``STATUS host name: evidence`` and, when not passing, an indented remedy line.
``--json``: ``{"command": ..., "run_id": ..., "checks": [...], "summary": {...}}`` on stdout only
(the full run report goes to ``--report``, ``--junit`` and the history, as for every command).
Exit 0 unless a check failed (1); configuration errors exit 2.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from nornir_homehub.cli.common import (
    EXIT_FAILED,
    AppContext,
    OutputPath,
    echo_json,
    filter_option,
    handle_errors,
    json_option,
    pass_app,
    redact,
)

report_option = click.option(
    "--report",
    "report",
    type=OutputPath("file"),
    help="Write the JSON run report here (always also kept in the history).",
)
junit_option = click.option(
    "--junit",
    "junit",
    type=OutputPath("file"),
    help="Write JUnit XML here (one testcase per check).",
)
if TYPE_CHECKING:
    from nornir.core import Nornir

    from nornir_homehub.checks.model import Check
    from nornir_homehub.report import RunReport


def run_checks(
    app: AppContext,
    filters: tuple[str, ...],
    task: Callable[..., Any],
    *,
    title: str,
    report: Path | None = None,
    junit: Path | None = None,
    progress: bool = True,
    **kwargs: Any,
) -> tuple[list[Check], RunReport]:
    """Run a check task on the selected hosts through `api.execute` (report, JUnit, history).

    A host whose task raised gets one failed check on the SSH layer (also in the report).

    Args:
        app: the CLI context.
        filters: ``--filter`` terms.
        task: a Nornir task returning ``Result(result=list[Check])``.
        title: the command's name (``check gpu``): the run's command and its one stage.
        report: write the JSON report here.
        junit: write JUnit XML here.
        progress: show progress on stderr (off with ``--json``).
        **kwargs: passed to the task.

    Returns:
        Every host's checks (hosts in name order) and the run's report.

    Raises:
        ConfigError: bad filter, bad inventory, or a task found bad inventory data.

    """
    import sys

    from nornir_homehub.api import RunContext, execute
    from nornir_homehub.checks.model import Check, Layer, Status
    from nornir_homehub.errors import ConfigError

    nr = app.select(filters)
    checks: list[Check] = []

    def body(nr_: Nornir, ctx: RunContext) -> None:
        agg = ctx.stage(title, nr_, task, gate=False, **kwargs)
        broken: list[Check] = []
        for name in sorted(agg):
            res = agg[name][0]
            if isinstance(res.exception, ConfigError):
                raise res.exception
            if isinstance(res.result, list) and not res.exception:
                checks.extend(c for c in res.result if isinstance(c, Check))
                continue
            exc = res.exception
            broken.append(
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
        ctx.recorder.add_checks(title, broken, title)
        checks.extend(broken)
        checks.sort(key=lambda c: c.host)

    rep = execute(
        title,
        nr,
        app.settings,
        body,
        argv=sys.argv[1:],
        filters=filters,
        report_path=report,
        junit_path=junit,
        progress=progress,
    )
    return checks, rep


def print_checks(
    checks: list[Check], *, command: str, as_json: bool, run_id: str | None = None
) -> None:
    """Print checks as plain lines or as one JSON document; exit 1 when one failed."""
    from collections import Counter

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
        for c in checks:
            click.echo(redact(f"{str(c.status).upper():4} {c.host} {c.name}: {c.evidence}"))
            if c.remedy and c.status != "pass":
                click.echo(redact(f"     remedy: {c.remedy}"))
        click.echo(", ".join(f"{n} {s}" for s, n in summary.items()), err=True)
    if any(c.failed for c in checks):
        raise SystemExit(EXIT_FAILED)


def _not_empty(option: str, value: str) -> str:
    if not value.strip():
        raise click.BadParameter("must not be empty", param_hint=f"'{option}'")
    return value


@click.group("check")
def check() -> None:
    """Verify hosts: GPU, Ollama models (one line per check, exit 1 when one fails)."""


@check.command("gpu")
@filter_option
@report_option
@junit_option
@json_option
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
def check_gpu_cmd(
    app: AppContext,
    filters: tuple[str, ...],
    report: Path | None,
    junit: Path | None,
    as_json: bool,
    smi: str,
) -> None:
    """Check the GPU of every selected host with nvidia-smi.

    Driver answers, name, memory, utilisation, temperature and processes; warns above the
    inventory's ``gpu_thresholds`` (default 90 % memory, 85 C); fails when a host whose
    inventory has a ``gpu:`` shows none; skips hosts with ``gpu: null``.
    """
    from nornir_homehub.checks.gpu import check_gpu

    checks, rep = run_checks(
        app,
        filters,
        check_gpu,
        title="check gpu",
        report=report,
        junit=junit,
        progress=not as_json,
        smi=smi,
    )
    print_checks(checks, command="check gpu", as_json=as_json, run_id=rep.run_id)


@check.command("ollama")
@filter_option
@report_option
@junit_option
@json_option
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
def check_ollama_cmd(
    app: AppContext,
    filters: tuple[str, ...],
    report: Path | None,
    junit: Path | None,
    as_json: bool,
    warmup: bool,
    warmup_timeout: float,
) -> None:
    """Check Ollama on the hosts running it: API, installed models, loaded on the GPU.

    The configured models are the inventory's ``ollama_models``; hosts without the ollama
    stack are skipped.
    """
    from nornir_homehub.checks.ollama import check_ollama

    checks, rep = run_checks(
        app,
        filters,
        check_ollama,
        title="check ollama",
        report=report,
        junit=junit,
        progress=not as_json,
        warmup=warmup,
        warmup_timeout=warmup_timeout,
    )
    print_checks(checks, command="check ollama", as_json=as_json, run_id=rep.run_id)
