"""What every CLI command shares: the context object, ``--filter``, error handling, output.

Commands import heavy modules (nornir, paramiko) inside their functions so that
``python -m nornir_homehub --help`` stays fast.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click

if TYPE_CHECKING:
    from nornir.core import Nornir

    from nornir_homehub.config import Settings

P = ParamSpec("P")
R = TypeVar("R")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


@dataclass
class AppContext:
    """The click context object: the config path and lazily loaded settings and inventory."""

    config_path: Path
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
        from nornir_homehub.inventory import apply_filters, parse_filters

        return apply_filters(self.nornir(), parse_filters(filters), allow_empty=allow_empty)


pass_app = click.make_pass_decorator(AppContext)

filter_option = click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="KEY=VALUE",
    help="Select hosts (repeatable, AND): role=compute, name=srv-prod-1, group=dns, any data key.",
)
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print only machine-readable JSON on stdout."
)


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


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn package errors into a clean message and exit code (2 config, 1 others)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from nornir_homehub.errors import ConfigError, HomehubError

        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            error_exit(str(exc), EXIT_USAGE)
        except HomehubError as exc:
            error_exit(str(exc), EXIT_FAILED)
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout (redacted)."""
    click.echo(redact(json.dumps(data, indent=2, sort_keys=False, default=str)))
