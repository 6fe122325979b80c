"""Zone serial rules, one YAML case per situation (tests/unit/cases/serial/*.yaml)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from nornir_homehub.plan.serial import SERIAL_MODULUS, next_serial, serial_date

CASES = sorted((Path(__file__).parent / "cases" / "serial").glob("*.yaml"))


def _load(path: Path) -> dict[str, Any]:
    case = yaml.safe_load(path.read_text())
    assert isinstance(case["today"], dt.date), f"{path.name}: today must be a YAML date"
    return case


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_next_serial(path: Path) -> None:
    case = _load(path)
    serial, note = next_serial(case["current"], case["today"])
    assert serial == case["expected"]
    if case["note"] is None:
        assert note is None
    else:
        assert note is not None
        assert case["note"] in note


def test_cases_cover_the_issue() -> None:
    names = {p.stem for p in CASES}
    assert {"same_day", "new_day", "change_99_of_day", "future", "not_date_small"} <= names


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_serial_never_goes_back(path: Path) -> None:
    """RFC 1982: the new serial is 'greater' than the old one (distance 1 .. 2**31 - 1)."""
    case = _load(path)
    if case["current"] is None:
        return
    serial, _ = next_serial(case["current"], case["today"])
    distance = (serial - case["current"]) % SERIAL_MODULUS
    assert 0 < distance < 2**31


def test_many_changes_in_one_day_keep_increasing() -> None:
    today = dt.date(2025, 10, 13)
    serial, _ = next_serial(None, today)
    seen = [serial]
    for _ in range(150):
        serial, _ = next_serial(serial, today)
        seen.append(serial)
    assert seen == sorted(seen)
    assert len(set(seen)) == len(seen)
    assert seen[100] == 2025101400


@pytest.mark.parametrize(
    ("serial", "date"),
    [
        (2025101311, dt.date(2025, 10, 13)),
        (2025023000, None),
        (202510131, None),
        (99999999999, None),
        (1900010100, None),
    ],
)
def test_serial_date(serial: int, date: dt.date | None) -> None:
    assert serial_date(serial) == date


def test_out_of_range_serial_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        next_serial(SERIAL_MODULUS, dt.date(2025, 10, 13))
