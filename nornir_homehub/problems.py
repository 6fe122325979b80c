"""Collect configuration problems, then raise them together as one `InvalidConfig`.

A problem names where it is (``FILE:LINE``, an option such as ``--filter`` or an environment
variable), the key path at fault and what is wrong, with what would be valid and a "did you
mean" for near misses. Validation collects every problem it finds before raising, so one run
shows the operator all of them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nornir_homehub.errors import InvalidConfig

# A bad value is quoted in messages up to this many characters.
_SHOW_CHARS = 60


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input.

    Attributes:
        where: ``FILE:LINE``, ``FILE``, an option (``--filter``) or a variable name; may be "".
        key: the key path at fault (``compute.port``); may be "".
        message: what is wrong and what would be valid.
    """

    where: str
    key: str
    message: str

    def __str__(self) -> str:
        return ": ".join(p for p in (self.where, self.key, self.message) if p)


class Problems:
    """A collector: ``add`` problems while validating, then `raise_if_any`."""

    def __init__(self) -> None:
        self._items: list[Problem] = []

    def add(self, where: str | Path, key: str, message: str) -> None:
        """Record one problem (``where`` is ``FILE:LINE``, a file, an option or a variable)."""
        problem = Problem(str(where), key, message)
        if problem not in self._items:
            self._items.append(problem)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Problem]:
        return iter(self._items)

    def raise_if_any(self) -> None:
        """Raise `InvalidConfig` with every problem recorded so far (nothing when none)."""
        if self._items:
            raise InvalidConfig(self._items)


def did_you_mean(word: object, options: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``options`` to ``word``, or ""."""
    if not isinstance(word, str) or not word:
        return ""
    match = difflib.get_close_matches(word, list(options), n=1, cutoff=0.75)
    if not match:
        match = [o for o in options if o.lower() == word.lower()][:1]
    return f" (did you mean '{match[0]}'?)" if match else ""


def one_of(options: Iterable[str]) -> str:
    """``valid: a, b, c`` (sorted), or ``nothing is valid here`` when there are none."""
    names = sorted(set(options))
    return f"valid: {', '.join(names)}" if names else "nothing is valid here"


def unknown(what: str, word: object, options: Iterable[str]) -> str:
    """``unknown WHAT 'word' (did you mean 'x'?); valid: ...``."""
    opts = list(options)
    return f"unknown {what} {show(word)}{did_you_mean(word, opts)}; {one_of(opts)}"


def show(value: object) -> str:
    """A value as it appears in a message: repr-like, cut to a readable length."""
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= _SHOW_CHARS else text[: _SHOW_CHARS - 3] + "..."


def type_name(value: Any) -> str:
    """The YAML-ish name of a value's type: a mapping, a list, a string, a number, null."""
    if value is None:
        return "null"
    for kinds, name in _TYPE_NAMES:
        if isinstance(value, kinds):
            return name
    return type(value).__name__


# bool before int: True is an int to Python, a boolean to the operator.
_TYPE_NAMES: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "a boolean"),
    ((int, float), "a number"),
    (str, "a string"),
    (dict, "a mapping"),
    ((list, tuple), "a list"),
)
