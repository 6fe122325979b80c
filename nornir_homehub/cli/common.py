"""What every CLI command shares: the context object, ``--filter``, error handling, output.

Commands import heavy modules (nornir, paramiko) inside their functions so that
``python -m nornir_homehub --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click

if TYPE_CHECKING:
    from nornir.core import Nornir

    from nornir_homehub.config import Settings

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
# An unexpected exception: a bug (sysexits' EX_SOFTWARE), never a traceback on the terminal.
EXIT_BUG = 70
# stdout closed by its reader: what a shell reports for a writer killed by SIGPIPE (128 + 13).
EXIT_PIPE = 141


@dataclass
class AppContext:
    """The click context object: the config path and lazily loaded settings and inventory."""

    config_path: Path
    limit: str | None = None
    _raw: dict[str, Any] | None = field(default=None, repr=False)
    _settings: Settings | None = field(default=None, repr=False)

    def raw(self) -> dict[str, Any]:
        """The parsed config file."""
        if self._raw is None:
            from nornir_homehub.config import read_config

            self._raw = read_config(self.config_path)
        return self._raw

    @property
    def settings(self) -> Settings:
        """The ``homehub:`` settings with resolved paths."""
        if self._settings is None:
            from nornir_homehub.config import load_settings

            self._settings = load_settings(self.config_path, self.raw())
        return self._settings

    def nornir(self) -> Nornir:
        """A fresh Nornir object for the whole inventory (no connection is opened)."""
        from nornir_homehub.config import load_nornir

        return load_nornir(self.config_path, self.raw())

    def select(self, filters: tuple[str, ...] | list[str], *, allow_empty: bool = False) -> Nornir:
        """The inventory narrowed by ``--filter`` terms.

        Raises:
            ConfigError: unknown key, malformed term, or nothing selected.
        """
        from nornir_homehub.commands import select_hosts

        return select_hosts(self.nornir(), filters, self.limit, allow_empty=allow_empty)

    def targets(self, filters: tuple[str, ...] | list[str]) -> Nornir:
        """The selected hosts, for a command that connects to every one of them (exec, deploy).

        Their known_hosts and key files are checked before any connection. (Commands that may
        skip a host without contacting it, such as ``check gpu`` on ``gpu: null``, use
        `select`: a host they never contact needs no key.)

        Raises:
            ConfigError: what `select` raises, or a known_hosts/key file that is missing.
        """
        from nornir_homehub.validate import check_connection_files

        nr = self.select(filters)
        check_connection_files(nr)
        return nr


pass_app = click.make_pass_decorator(AppContext)


def redact(text: str) -> str:
    """Redact every secret value known to this process (no-op before secrets are loaded)."""
    try:
        from nornir_homehub.secrets import redact_all
    except ImportError:  # pragma: no cover - secrets module always ships
        return text
    return redact_all(text)


def error_exit(message: str, code: int) -> None:
    """Print ``error: message`` (redacted) on stderr and exit with ``code``."""
    click.echo(f"error: {redact(message)}", err=True)
    sys.exit(code)


@contextlib.contextmanager
def exit_on_error() -> Iterator[None]:
    """Turn package errors into a clean message and exit code (2 config, 1 others).

    click's own exits and usage errors pass through; a closed stdout exits `EXIT_PIPE`;
    anything else is a bug: `report_bug` prints one line and exits `EXIT_BUG`.
    """
    from nornir_homehub.errors import ConfigError, HomehubError

    try:
        yield
    except (click.exceptions.Exit, click.ClickException, click.Abort):
        raise
    except ConfigError as exc:
        error_exit(str(exc), EXIT_USAGE)
    except HomehubError as exc:
        error_exit(str(exc), EXIT_FAILED)
    except BrokenPipeError:
        closed_stdout()
    except Exception as exc:  # any other exception is a bug: one line, no traceback
        report_bug(exc)


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Run a command function under `exit_on_error`."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with exit_on_error():
            return fn(*args, **kwargs)

    return wrapper


def _crash_dir() -> Path:
    """Where a bug's traceback goes: the config's report folder when known, else $TMPDIR."""
    ctx = click.get_current_context(silent=True)
    app = ctx.find_object(AppContext) if ctx is not None else None
    if app is not None and app._settings is not None:
        return app._settings.report_dir
    return Path(tempfile.gettempdir())


def _culprit(exc: BaseException) -> str:
    """``runbook FILE line N`` when the exception came from a runbook, else ""."""
    ctx = click.get_current_context(silent=True)
    app = ctx.find_object(AppContext) if ctx is not None else None
    if app is None or app._settings is None:
        return ""
    books = [d.resolve() for d in app._settings.runbooks_path]
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = Path(frame.filename)
        if path.suffix == ".py" and any(path.resolve().is_relative_to(b) for b in books):
            return f"runbook {path} line {frame.lineno}"
    return ""


def save_traceback(exc: BaseException) -> Path | None:
    """Write the redacted traceback of ``exc`` to a new 0600 file; None when none could be."""
    text = redact("".join(traceback.format_exception(exc)))
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for folder in (_crash_dir(), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"homehub-crash-{stamp}-{os.getpid()}.txt"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError:
            continue
        return path
    return None


def closed_stdout() -> None:
    """The reader of stdout went away (``| head``): stop quietly, as a killed pipe writer."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(EXIT_PIPE)


def report_bug(exc: BaseException) -> None:
    """Print one line about an unexpected exception and exit `EXIT_BUG` (no traceback)."""
    where = save_traceback(exc)
    first = str(exc).splitlines()[0] if str(exc) else ""
    culprit = _culprit(exc)
    what = f"unexpected error in {culprit}" if culprit else "internal error (a bug)"
    saved = f"full traceback in {where}" if where else "the traceback could not be saved"
    error_exit(f"{what}: {type(exc).__name__}: {first[:300]}; {saved}", EXIT_BUG)


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout (redacted)."""
    click.echo(redact(json.dumps(data, indent=2, sort_keys=False, default=str)))
