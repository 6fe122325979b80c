"""The `Secret` type: a named value that never shows itself."""

from __future__ import annotations

import hmac
from typing import Any, NoReturn

__all__ = ["Secret"]


class Secret:
    """A named secret value that never shows itself.

    ``repr``, ``str`` and ``format`` give ``<secret NAME>``; `reveal` is the only way to the
    value. A secret equals another secret with the same name and value; comparing it with a
    plain string raises `TypeError` (compare ``reveal()`` explicitly). It cannot be pickled and
    ``json.dumps`` refuses it (or writes the marker with ``default=str``).

    Args:
        name: the secret's name, e.g. ``vault_qdrant_api_key`` (not secret itself).
        value: the secret value.

    """

    __slots__ = ("_name", "_value")

    _name: str
    _value: str

    def __init__(self, name: str, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"secret {name!r}: value must be a str, not {type(value).__name__}")
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_value", value)

    @property
    def name(self) -> str:
        """The secret's name."""
        return self._name

    def reveal(self) -> str:
        """Return the value. Call it only where the value is really needed (rendering, auth)."""
        return self._value

    def marker(self) -> str:
        """Return the text shown instead of the value: ``<secret NAME>``."""
        return f"<secret {self._name}>"

    def __repr__(self) -> str:
        return self.marker()

    __str__ = __repr__

    def __format__(self, format_spec: str) -> str:
        return format(self.marker(), format_spec)

    def __setattr__(self, key: str, value: Any) -> NoReturn:
        raise AttributeError(f"secret {self._name!r} is immutable")

    def __delattr__(self, key: str) -> NoReturn:
        raise AttributeError(f"secret {self._name!r} is immutable")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return self._name == other._name and hmac.compare_digest(
                self._value.encode(), other._value.encode()
            )
        if isinstance(other, str | bytes):
            raise TypeError(
                f"comparing secret {self._name!r} with a plain string; use .reveal() explicitly"
            )
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __hash__(self) -> int:
        return hash(("Secret", self._name))

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError(f"secret {self._name!r} cannot be pickled")

    def __reduce__(self) -> NoReturn:
        raise TypeError(f"secret {self._name!r} cannot be pickled")

    def __getstate__(self) -> NoReturn:
        raise TypeError(f"secret {self._name!r} cannot be pickled")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self
