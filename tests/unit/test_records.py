"""`records.project`: a record built from another's same-named attributes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from nornir_homehub.records import project


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
