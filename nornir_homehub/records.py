"""Record helpers shared by facts, plans, reports and the lab (imports nothing of the package)."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def project(cls: type[T], source: object, **given: Any) -> T:
    """The ``cls`` record (a dataclass) made from ``source``'s attributes of the same names.

    ``given`` values (converted or derived ones) take the place of the attributes they name.

    Raises:
        AttributeError: ``source`` lacks a field of ``cls`` that ``given`` does not name.
        TypeError: ``cls`` is not a dataclass.
    """
    values = {
        f.name: getattr(source, f.name)
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.init and f.name not in given
    }
    return cls(**values, **given)


def as_dict(record: Any) -> dict[str, Any]:
    """A JSON-ready dict of a dataclass record's fields, in their order.

    A tuple or list becomes a list; a record with ``to_dict`` (a field's value or an item of
    one) becomes its dict.
    """
    return {f.name: _plain(getattr(record, f.name)) for f in dataclasses.fields(record)}


def _plain(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value
