"""Cleaning what enters a report: JSON-ready values, every string redacted and cut.

Every string a report holds (task results, diffs, error messages, check evidence) goes through
`clean` or `cut` after the redactor, so that no secret and no megabyte of command output
reaches the JSON, the JUnit file, the history or the terminal.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import Enum
from pathlib import PurePath
from typing import Any

from nornir_homehub.checks.model import Layer
from nornir_homehub.errors import TransportError
from nornir_homehub.report.model import ErrorRecord

MAX_TEXT = 20_000
"""Longest string kept in a report; command output beyond that is cut (the host still has it)."""

Redact = Callable[[str], str]


def no_redact(text: str) -> str:
    """The redactor of a report made without one: ``text`` unchanged."""
    return text


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """``moment`` as the reports write times: ISO 8601, microseconds, ``Z``."""
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def cut(text: str) -> str:
    """``text`` cut to `MAX_TEXT` characters, saying how many were cut."""
    # Always given redacted text: cut first, a secret's start or end would survive unredacted.
    if len(text) <= MAX_TEXT:
        return text
    return text[:MAX_TEXT] + f"... [{len(text) - MAX_TEXT} more characters cut]"


def clean(value: Any, redact: Redact = no_redact) -> Any:  # noqa: PLR0911 - one per JSON kind
    """Return ``value`` as JSON-ready data with every string (keys included) redacted.

    Objects with ``to_dict()`` are converted, enums become their value, paths and datetimes
    strings, bytes are decoded, and anything else falls back to ``str()``.
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Enum):
        return clean(value.value, redact)
    if isinstance(value, str):
        return cut(redact(value))
    if isinstance(value, bytes):
        return cut(redact(value.decode("utf-8", "replace")))
    if isinstance(value, Mapping):
        return {redact(str(k)): clean(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [clean(v, redact) for v in items]
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, PurePath):
        return redact(str(value))
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return clean(to_dict(), redact)
    return cut(redact(str(value)))


def error_from_exception(exc: BaseException, redact: Redact = no_redact) -> ErrorRecord:
    """Describe ``exc`` for a report: class name, redacted message and layer.

    A failed Nornir subtask is described by the subtask's name (its own error is recorded on
    the subtask); transport errors are on the ``ssh`` layer; an exception with a ``layer``
    attribute names its own layer.
    """
    from nornir.core.exceptions import NornirSubTaskError

    kind = type(exc).__name__
    if isinstance(exc, NornirSubTaskError):
        message = f"subtask {exc.task.name!r} failed"
    elif isinstance(exc, KeyboardInterrupt):
        message = "interrupted (Ctrl-C)"
    else:
        message = str(exc) or kind
    layer: str | None = None
    if isinstance(exc, TransportError):
        layer = str(Layer.SSH)
    elif getattr(exc, "layer", None) is not None:
        layer = str(clean(exc.layer))  # type: ignore[attr-defined]
    return ErrorRecord(type=kind, message=cut(redact(message)), layer=layer)
