"""What the CLI and `HomeHub` share: select hosts; run a runbook, a command, a check task.

Each run goes through the engine (`nornir_homehub.engine.execute`) and leaves its report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Unpack

from nornir_homehub.engine import RunContext, RunParams, execute
from nornir_homehub.errors import ConfigError
from nornir_homehub.preflight import check_runbook_input
from nornir_homehub.views import ExecResults, ExecRow

if TYPE_CHECKING:
    from nornir.core import Nornir

    from nornir_homehub.checks.model import Check
    from nornir_homehub.config import Settings
    from nornir_homehub.report import RunReport
    from nornir_homehub.runbook_loader import Runbook


def select_hosts(
    nr: Nornir, filters: Iterable[str], limit: str | None = None, *, allow_empty: bool = False
) -> Nornir:
    """The hosts of ``nr`` that ``--limit PATTERN`` and the ``--filter`` terms select.

    Raises:
        ConfigError: unknown key, malformed term or pattern, or nothing selected (unless
            ``allow_empty``).
    """
    from nornir_homehub.inventory import apply_filters, apply_limit, parse_filters

    selected = apply_limit(nr, limit)
    return apply_filters(selected, parse_filters(list(filters)), allow_empty=allow_empty)


def run_runbook(
    book: Runbook,
    nr: Nornir,
    settings: Settings,
    options: dict[str, Any],
    **params: Unpack[RunParams],
) -> RunReport:
    """Check a loaded runbook's input offline, then run it on ``nr`` through `execute`.

    ``options`` are already checked against the runbook's declaration (`Runbook.check`,
    `Runbook.parse_cli`); what can only be judged with the selected hosts (stack names and
    templates, the zone) is checked here, before any host is touched. ``params``: see
    `RunParams`.

    Raises:
        ConfigError: see `check_runbook_input`, and what `execute` lets through.
    """
    check_runbook_input(settings, nr, book, options)
    # Every runbook may change hosts unless it declares READ_ONLY: those take no deploy lock.
    params.setdefault("lock", not book.read_only)

    def body(nr_: Nornir, ctx: RunContext) -> Any:
        return book.run(nr_, ctx, **options)

    return execute(book.name, nr, settings, body, **params)


def exec_command(
    command: str,
    nr: Nornir,
    settings: Settings,
    *,
    timeout: float | None = None,
    **params: Unpack[RunParams],
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

    params.setdefault("progress", False)
    report = execute("exec", nr, settings, body, **params)
    return ExecResults(redact_all(command), tuple(rows), report, notes[0] if notes else None)


def run_checks(
    title: str,
    nr: Nornir,
    settings: Settings,
    task: Callable[..., Any],
    *,
    host_check: str,
    task_args: Mapping[str, Any] | None = None,
    **params: Unpack[RunParams],
) -> tuple[list[Check], RunReport]:
    """Run a check task on ``nr``'s hosts as one stage with a report (``check gpu``).

    See `RunContext.check_stage`: a host whose task raised gets a failed ``host_check``.

    Args:
        title: the command's name (``check gpu``): the run's command and its one stage.
        nr: the selected hosts.
        settings: the config's ``homehub:`` settings.
        task: a Nornir task returning ``Result(result=list[Check])``.
        host_check: the check a host that could not be checked gets (``gpu.host``).
        task_args: keyword arguments of the task.
        **params: how to run it and where its report goes (`RunParams`).

    Returns:
        Every host's checks (hosts in name order) and the run's report.

    Raises:
        ConfigError: a task found bad inventory data.

    """
    checks: list[Check] = []

    def body(nr_: Nornir, ctx: RunContext) -> None:
        checks.extend(ctx.check_stage(title, nr_, task, host_check=host_check, **(task_args or {})))

    report = execute(title, nr, settings, body, **params)
    return checks, report


def run_check_kind(
    kind: str,
    nr: Nornir,
    settings: Settings,
    *,
    task_args: Mapping[str, Any] | None = None,
    **params: Unpack[RunParams],
) -> tuple[list[Check], RunReport]:
    """Run the checks of ``kind`` (``gpu`` or ``ollama``: ``check gpu``/``check ollama``).

    Raises:
        ConfigError: an unknown kind, or what `run_checks` raises.
    """
    from nornir_homehub.tasks.gpu import check_gpu
    from nornir_homehub.tasks.ollama import check_ollama

    kinds: dict[str, tuple[Callable[..., Any], str]] = {
        "gpu": (check_gpu, "gpu.host"),
        "ollama": (check_ollama, "ollama.host"),
    }
    if kind not in kinds:
        raise ConfigError(f"unknown check {kind!r}; checks: {', '.join(kinds)}")
    task, host_check = kinds[kind]
    return run_checks(
        f"check {kind}", nr, settings, task, host_check=host_check, task_args=task_args, **params
    )
