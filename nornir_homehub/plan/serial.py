"""Zone serial numbers in the guide's ``YYYYMMDDNN`` form (e.g. ``2025101311``).

Rules (pure, no clock: the caller passes ``today``):

* no current serial: ``YYYYMMDD00`` of today;
* a date-shaped serial: ``max(today's YYYYMMDD00, current + 1)``, so it never goes back, a
  serial "from the future" simply increments and the hundredth change of a day carries into
  the next date (``2025101399 + 1 = 2025101400``), which secondaries accept;
* any other serial: ``current + 1`` in RFC 1982 serial arithmetic (mod 2**32), with a note
  saying so, because jumping to a date could be a decrease in serial space.

`plan_serial` picks what the zone's next serial follows: the highest (RFC 1982 order) of the
zone file's serial, the one named serves and the highest the tool has seen (its state file), so
the serial never goes back, and says why in words.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

SERIAL_MODULUS = 2**32
_DATE_DIGITS = 10
_MIN_YEAR = 1970


def date_serial(day: dt.date, count: int = 0) -> int:
    """Return the ``YYYYMMDDNN`` serial of ``day`` with change number ``count`` (0..99)."""
    return int(day.strftime("%Y%m%d")) * 100 + count


def serial_date(serial: int) -> dt.date | None:
    """Return the date encoded in a ``YYYYMMDDNN`` serial, or None when it is not date-shaped.

    A serial is date-shaped when it has exactly ten digits, fits in 32 bits and its first
    eight digits are a real calendar date from 1970 on.
    """
    text = str(serial)
    if serial < 0 or serial >= SERIAL_MODULUS or len(text) != _DATE_DIGITS:
        return None
    try:
        day = dt.datetime.strptime(text[:8], "%Y%m%d").date()
    except ValueError:
        return None
    return day if day.year >= _MIN_YEAR else None


def next_serial(current: int | None, today: dt.date) -> tuple[int, str | None]:
    """Return the serial that follows ``current`` on ``today``, and a note when it is unusual.

    Args:
        current: the serial in the zone now (None for a new zone).
        today: the controller's date.

    Returns:
        ``(serial, note)``; ``note`` is None for the ordinary date-based bump and explains the
        choice otherwise (new zone, serial from the future, non-date serial).

    Raises:
        ValueError: ``current`` is negative or does not fit in 32 bits.

    """
    base = date_serial(today)
    if current is None:
        return base, f"new zone: serial starts at {base}"
    if current < 0 or current >= SERIAL_MODULUS:
        raise ValueError(f"zone serial {current} is outside 0..{SERIAL_MODULUS - 1}")
    day = serial_date(current)
    if day is None:
        new = (current + 1) % SERIAL_MODULUS
        return new, (
            f"serial {current} is not in YYYYMMDDNN form: incremented to {new} "
            "(RFC 1982 serial arithmetic, mod 2**32)"
        )
    if day > today:
        return current + 1, (
            f"serial {current} is dated after today ({today.isoformat()}): incremented, "
            "never moved back"
        )
    return max(base, current + 1), None


def serial_gt(a: int, b: int) -> bool:
    """Return True when serial ``a`` is greater than ``b`` (RFC 1982 serial arithmetic)."""
    return a != b and (a - b) % SERIAL_MODULUS < SERIAL_MODULUS // 2


def serial_max(*serials: int | None) -> int | None:
    """Return the greatest of ``serials`` in RFC 1982 order (None ignored; None if all are)."""
    best: int | None = None
    for s in serials:
        if s is not None and (best is None or serial_gt(s, best)):
            best = s
    return best


class SerialPlan(NamedTuple):
    """The serial a zone gets on this run.

    Attributes:
        serial: the new serial (the file's own when nothing changes).
        reason: why, in words (the plan shows it).
        must_change: named or the state has seen a higher serial than the file's, so the file
            needs a new serial even without record changes.

    """

    serial: int
    reason: str
    must_change: bool


def plan_serial(
    file_serial: int | None,
    served: int | None,
    serial_high: int | None,
    today: dt.date,
    *,
    change: bool,
) -> SerialPlan:
    """Return the zone's serial for this run, following `next_serial` from the best base.

    Args:
        file_serial: the zone file's serial (None: no file, or it does not parse).
        served: the serial named serves now (None: not served).
        serial_high: the highest serial seen served or written (the state file), if any.
        today: the controller's date.
        change: the zone file's records or SOA fields change on this run.

    """
    base = file_serial
    why = f"the file has {file_serial}" if file_serial is not None else "no serial to follow"
    if served is not None and (base is None or serial_gt(served, base)):
        base, why = (
            served,
            f"named serves {served}"
            + (f", newer than the file's {file_serial}" if file_serial is not None else ""),
        )
    if serial_high is not None and (base is None or serial_gt(serial_high, base)):
        base, why = (
            serial_high,
            f"the highest serial seen served before is {serial_high} (state file)",
        )
    must = base != file_serial
    if not (change or must):
        assert file_serial is not None  # noqa: S101 - no change implies an existing file
        return SerialPlan(file_serial, "unchanged (no record changed)", False)
    serial, note = next_serial(base, today)
    if base is None:
        return SerialPlan(serial, str(note), must)
    if note:
        return SerialPlan(serial, f"{note}; {why}", must)
    day = serial_date(serial)
    if serial == base + 1:
        rule = f"{base} + 1 (YYYYMMDDNN: change {serial % 100:02d} of {day})"
    else:
        rule = f"today's first change, {serial} (YYYYMMDDNN)"
    return SerialPlan(serial, f"{rule}; {why}", must)
