"""A stand-in for a module's ``time``: only sleeping advances it (tests of polling loops)."""

from __future__ import annotations


class FakeClock:
    """``monotonic()`` and ``sleep()``; each sleep is recorded (rounded to the millisecond)."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        """The fake time now."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Record the pause and advance the clock by it."""
        self.sleeps.append(round(seconds, 3))
        self.now += seconds
