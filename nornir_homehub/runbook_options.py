"""Runbook options: what ``run NAME -o KEY=VALUE`` may pass, declared by each runbook.

A runbook declares its options at module level::

    from nornir_homehub.runbook_options import Option

    OPTIONS = [
        Option("keep", int, None, "backups to keep (default: inventory backup_keep)", minimum=1),
        Option("fetch", str, None, "copy each run to DIR/<host>/<run>/ on the controller"),
    ]

and receives them as keyword arguments of ``run(nr, ctx, **options)``. The loader checks every
``-o`` (and every keyword of ``HomeHub.run``) against the declaration before any host is
touched: an unknown key or a value of the wrong type exits 2 with the list of valid options and
their types. Types: ``bool``, ``int``, ``float``, ``str``, ``list`` (of strings; ``a,b`` on the
command line) and ``datetime.date`` (``2026-11-30``). A runbook without ``OPTIONS`` takes the
keyword-only parameters of its ``run()`` that have defaults (type from the default, ``str``
when it is None).
"""

from __future__ import annotations

import datetime as dt
import inspect
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nornir_homehub.errors import ConfigError
from nornir_homehub.problems import did_you_mean

_TYPES: Mapping[type, str] = {
    bool: "true/false",
    int: "integer",
    float: "number",
    str: "text",
    list: "comma-separated list",
    dt.date: "date YYYY-MM-DD",
}
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


@dataclass(frozen=True)
class Option:
    """One option of a runbook.

    Attributes:
        name: the keyword (``-o name=value``).
        type: bool, int, float, str, list (of strings) or datetime.date.
        default: the value when not given (None: the runbook decides, e.g. from inventory).
        help: one line for ``run --list`` and ``run NAME --help``.
        minimum: for int/float, the smallest valid value.
        positive: for int/float, the value must be above 0.
    """

    name: str
    type: type
    default: Any = None
    help: str = ""
    minimum: float | None = None
    positive: bool = False

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ConfigError(f"runbook option name {self.name!r} is not a Python identifier")
        if self.type not in _TYPES:
            valid = ", ".join(t.__name__ for t in _TYPES)
            raise ConfigError(
                f"runbook option {self.name}: type {self.type!r} is not one of {valid}"
            )

    @property
    def type_name(self) -> str:
        """How the type is shown: ``integer``, ``true/false``..."""
        return _TYPES[self.type]

    def describe(self) -> str:
        """``name (type, default X): help``, one line."""
        default = "" if self.default is None else f", default {_shown(self.default)}"
        return f"{self.name} ({self.type_name}{default}){': ' + self.help if self.help else ''}"

    def from_text(self, text: str) -> Any:
        """Convert a ``-o`` value.

        Raises:
            ValueError: the text is empty or not of the option's type (message says why).
        """
        if not text.strip():
            raise ValueError("empty value")
        value: Any
        if self.type is bool:
            low = text.strip().lower()
            if low not in _TRUE + _FALSE:
                raise ValueError(f"expected true or false, got {text!r}")
            value = low in _TRUE
        elif self.type is int:
            try:
                value = int(text.strip(), 10)
            except ValueError:
                raise ValueError(f"expected an integer, got {text!r}") from None
        elif self.type is float:
            try:
                value = float(text.strip())
            except ValueError:
                raise ValueError(f"expected a number, got {text!r}") from None
        elif self.type is list:
            value = [p.strip() for p in text.split(",")]
            if any(not p for p in value):
                raise ValueError(f"empty item in {text!r}")
        elif self.type is dt.date:
            try:
                value = dt.date.fromisoformat(text.strip())
            except ValueError:
                raise ValueError(f"expected a date YYYY-MM-DD, got {text!r}") from None
        else:
            value = text
        return self.check(value)

    def check(self, value: Any) -> Any:
        """Check a value given from Python (``HomeHub.run(keep=3)``); return it.

        Raises:
            ValueError: not of the option's type or out of range.
        """
        if value is None:
            return None
        ok = isinstance(value, self.type) and not (
            self.type in (int, float) and isinstance(value, bool)
        )
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if self.type is list and isinstance(value, list | tuple):
            if not value:
                raise ValueError("empty list: name at least one, or leave the option out")
            ok = all(isinstance(v, str) and v.strip() for v in value)
            value = list(value)
        if self.type is dt.date and isinstance(value, dt.datetime):
            ok = False
        if not ok:
            raise ValueError(f"expected {self.type_name}, got {_shown(value)}")
        if self.type in (int, float):
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"expected a finite number, got {value}")
            if self.positive and value <= 0:
                raise ValueError(f"must be above 0, got {value}")
            if self.minimum is not None and value < self.minimum:
                raise ValueError(f"must be at least {_shown(self.minimum)}, got {value}")
        return value


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def declared_options(module: Any, run: Callable[..., Any], where: str) -> tuple[Option, ...]:
    """The options of a runbook module: its ``OPTIONS``, else those of ``run()``'s signature.

    Raises:
        ConfigError: ``OPTIONS`` is not a list of `Option`, or names one twice.
    """
    declared = getattr(module, "OPTIONS", None)
    if declared is None:
        return _from_signature(run)
    if not isinstance(declared, list | tuple) or not all(isinstance(o, Option) for o in declared):
        raise ConfigError(
            f"{where}: OPTIONS must be a list of nornir_homehub.runbook_options.Option"
        )
    names = [o.name for o in declared]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{where}: OPTIONS declares {', '.join(twice)} more than once")
    return tuple(declared)


def _from_signature(run: Callable[..., Any]) -> tuple[Option, ...]:
    out = []
    for p in inspect.signature(run).parameters.values():
        if p.kind is not inspect.Parameter.KEYWORD_ONLY or p.default is inspect.Parameter.empty:
            continue
        default = p.default
        kind = type(default) if type(default) in _TYPES else str
        if isinstance(default, tuple):
            kind = list
        out.append(Option(p.name, kind, default, ""))
    return tuple(out)


def listing(options: Sequence[Option]) -> str:
    """``options of NAME: a (integer), b (text)`` as used in messages; "no options" when none."""
    if not options:
        return "it takes no options"
    return "valid options: " + "; ".join(o.describe() for o in options)


def parse_cli(runbook: str, options: Sequence[Option], terms: Iterable[str]) -> dict[str, Any]:
    """Parse ``-o KEY=VALUE`` terms against the declared options.

    Raises:
        ConfigError: a term is malformed, empty, given twice, unknown (with "did you mean"),
            or of the wrong type; the message lists the valid options with their types.
    """
    by_name = {o.name: o for o in options}
    out: dict[str, Any] = {}
    for term in terms:
        key, sep, text = term.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(
                f"malformed runbook option {term!r}: expected KEY=VALUE; {listing(options)}"
            )
        option = by_name.get(key)
        if option is None:
            raise ConfigError(
                f"runbook {runbook}: unknown option {key!r}{did_you_mean(key, by_name)}; "
                f"{listing(options)}"
            )
        if key in out:
            raise ConfigError(f"runbook {runbook}: option {key} is given twice")
        try:
            out[key] = option.from_text(text)
        except ValueError as exc:
            raise ConfigError(
                f"runbook {runbook}: -o {key}: {exc}; option {option.describe()}"
            ) from None
    return out


def check_values(
    runbook: str, options: Sequence[Option], values: Mapping[str, Any]
) -> dict[str, Any]:
    """Check keyword options given from Python (``HomeHub.run``, the CLI's own commands).

    Raises:
        ConfigError: an unknown key or a value of the wrong type (the message lists the
            valid options).
    """
    by_name = {o.name: o for o in options}
    out: dict[str, Any] = {}
    for key, value in values.items():
        option = by_name.get(key)
        if option is None:
            raise ConfigError(
                f"runbook {runbook}: unknown option {key!r}{did_you_mean(key, by_name)}; "
                f"{listing(options)}"
            )
        try:
            out[key] = option.check(value)
        except ValueError as exc:
            raise ConfigError(f"runbook {runbook}: option {key}: {exc}") from None
    return out
