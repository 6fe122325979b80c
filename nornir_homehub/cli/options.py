"""The command-line options several commands share, each defined once.

``--filter``/``--limit`` (`filter_option`), ``--json`` (`json_option`), ``--report``
(`report_option`), ``--junit`` (`junit_option`), ``--dry-run`` (`dry_run_option`),
``--vault-password-file``, and the whole set
of a command that runs a runbook (`host_command_options`, packed into one `RunOptions`).
Output paths are checked when the command line is read (`OutputPath`, exit 2).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from nornir_homehub.cli.common import AppContext

F = TypeVar("F", bound=Callable[..., Any])


if TYPE_CHECKING:
    from nornir_homehub.engine import RunParams

    _PathParamType = click.ParamType[Path]
else:  # click < 8.2 (allowed by pyproject) has no generic ParamType
    _PathParamType = click.ParamType


class OutputPath(_PathParamType):
    """A click type for output paths, checked when the command line is read (exit 2).

    ``kind`` is ``file`` (``--report``, ``--junit``) or ``dir`` (``render --out``); see
    `nornir_homehub.outputs`.
    """

    name = "path"

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        """Check the path; fail with a usage error naming the option and the problem."""
        from nornir_homehub.outputs import output_dir_problem, output_file_problem

        text = str(value)
        check = output_file_problem if self.kind == "file" else output_dir_problem
        problem = check(text)
        if problem:
            self.fail(problem, param, ctx)
        return Path(text).expanduser()


def _store_limit(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    app = ctx.find_object(AppContext)
    if value is not None and app is not None:
        app.limit = value


_filter = click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="KEY=VALUE",
    help="Select hosts (repeatable, AND): role=compute, name=srv-prod-1, group=dns, any data key.",
)
_limit = click.option(
    "--limit",
    "-l",
    metavar="PATTERN",
    expose_value=False,
    callback=_store_limit,
    help="Hosts or groups as Ansible's --limit takes them: srv-prod-1,trusted; "
    "'!dns' excludes, '&compute' intersects, '*' globs. Combines with --filter (AND).",
)


def filter_option(fn: F) -> F:
    """Add ``--filter KEY=VALUE`` (to the function) and ``--limit PATTERN`` (to `AppContext`)."""
    return _filter(_limit(fn))


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print only machine-readable JSON on stdout."
)

report_option = click.option(
    "--report",
    "report",
    type=OutputPath("file"),
    help="Write the JSON run report here (always also kept in the history).",
)


def junit_option(testcase: str = "") -> Callable[[F], F]:
    """``--junit PATH``; ``testcase`` says what one testcase is for the command (``check``)."""
    detail = f" (one testcase per {testcase})" if testcase else ""
    return click.option(
        "--junit", "junit", type=OutputPath("file"), help=f"Write JUnit XML here{detail}."
    )


def vault_password_file_option(text: str) -> Callable[[F], F]:
    """``--vault-password-file FILE`` (an existing file); ``text`` is its help."""
    return click.option(
        "--vault-password-file",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        help=text,
    )


@dataclass(frozen=True)
class RunOptions:
    """The options every host-touching command shares (see `host_command_options`)."""

    filters: tuple[str, ...] = ()
    dry_run: bool = False
    report: Path | None = None
    junit: Path | None = None
    as_json: bool = False
    keep_going: bool = False
    lock_wait: float = 0.0

    def params(self) -> RunParams:
        """The engine's `RunParams`: this command line, no progress output with ``--json``."""
        return {
            "argv": sys.argv[1:],
            "filters": self.filters,
            "dry_run": self.dry_run,
            "keep_going": self.keep_going,
            "report_path": self.report,
            "junit_path": self.junit,
            "progress": not self.as_json,
            "lock_wait": self.lock_wait,
        }


dry_run_option = click.option(
    "--dry-run", is_flag=True, help="Show exact diffs and planned restarts; change nothing."
)
_KEEP_GOING = click.option(
    "--keep-going", is_flag=True, help="A failed stage does not stop the later ones."
)
_LOCK_WAIT = click.option(
    "--lock-wait",
    type=click.FloatRange(min=0),
    default=0.0,
    metavar="SECONDS",
    help="Wait up to SECONDS for a host's deploy lock another run holds (default: exit 2).",
)


def _packed(
    fn: Callable[..., Any], options: list[Callable[[Any], Any]], names: tuple[str, ...]
) -> Callable[..., Any]:
    """Add ``options`` to ``fn``; their values (``names``) reach it as one ``run: RunOptions``."""

    @functools.wraps(fn)
    def packed(*args: Any, **kwargs: Any) -> Any:
        run = RunOptions(**{k: kwargs.pop(k) for k in names})
        return fn(*args, run=run, **kwargs)

    wrapped: Callable[..., Any] = packed
    for opt in reversed(options):
        wrapped = opt(wrapped)
    return wrapped


def host_command_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add the options of a command that runs a runbook (``--filter`` ... ``--lock-wait``).

    ``--filter``, ``--dry-run``, ``--report``, ``--junit``, ``--json``, ``--keep-going``,
    ``--lock-wait``.

    The command function receives them packed as one ``run: RunOptions`` argument.
    """
    options = [
        filter_option,
        dry_run_option,
        report_option,
        junit_option(),
        json_option,
        _KEEP_GOING,
        _LOCK_WAIT,
    ]
    names = ("filters", "dry_run", "report", "junit", "as_json", "keep_going", "lock_wait")
    return _packed(fn, options, names)


def check_command_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--filter``, ``--report``, ``--junit``, ``--json`` (``check gpu``, ``check ollama``).

    The command function receives them packed as one ``run: RunOptions`` argument.
    """
    options = [filter_option, report_option, junit_option("check"), json_option]
    return _packed(fn, options, ("filters", "report", "junit", "as_json"))
