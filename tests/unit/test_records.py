"""`records.project`: a record built from another's same-named attributes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from nornir_homehub.records import as_dict, project


@dataclass(frozen=True)
class Source:
    name: str
    size: int
    extra: str = "ignored"


@dataclass(frozen=True)
class Target:
    name: str
    size: int


def test_fields_come_from_the_source_and_given_values_replace_them() -> None:
    assert project(Target, Source("a", 1)) == Target("a", 1)
    assert project(Target, Source("a", 1), size=2) == Target("a", 2)


def test_a_field_the_source_lacks_is_an_error_even_with_a_default() -> None:
    @dataclass(frozen=True)
    class Wider:
        name: str
        colour: str = "red"

    with pytest.raises(AttributeError, match="colour"):
        project(Wider, Source("a", 1))


@dataclass(frozen=True)
class Inner:
    code: int

    def to_dict(self) -> dict[str, int]:
        return {"code": self.code * 10}


@dataclass(frozen=True)
class Outer:
    name: str
    tags: tuple[str, ...]
    inner: Inner
    items: list[Inner]


def test_as_dict_keeps_field_order_lists_sequences_and_uses_to_dict() -> None:
    got = as_dict(Outer("x", ("a", "b"), Inner(1), [Inner(2)]))
    assert got == {"name": "x", "tags": ["a", "b"], "inner": {"code": 10}, "items": [{"code": 20}]}
    assert list(got) == ["name", "tags", "inner", "items"]
