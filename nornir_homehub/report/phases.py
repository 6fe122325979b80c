"""Where a run's time went: each host's time per phase (connect, facts, render, upload, ...).

A phase is a name and the seconds one host spent in it, summed over the run. Tasks record them
through one call, ``with phase(task.host.name, "upload"):`` (or ``RunContext.phase``); the
engine makes a `PhaseClock` active for each command run, the report keeps what it recorded
(``phases``: host -> phase -> seconds) and ``--profile`` prints it as a table (`profile_table`).
Outside a run (a unit test calling a task directly) ``phase`` records nothing.

Phases nest: time spent in an inner phase (a ``connect`` inside ``verify``) is counted for the
inner one only, so one host's phases never add up to more than the time its thread spent in
them. A host's work runs in one Nornir worker thread; work a task hands to threads of its own
is timed in those threads and may overlap (then the sum can exceed the wall time).
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

# The order the table shows; a phase not listed here (added by a task) follows, by first use.
KNOWN_PHASES = (
    "connect",
    "render",
    "facts",
    "upload",
    "pull",
    "compose",
    "health",
    "post-deploy",
    "edge convergence",
    "verify",
    "command",
)


@dataclass
class _Open:
    """A phase running in this thread: whose, which, counted since when."""

    host: str
    name: str
    since: float


class PhaseClock:
    """Thread-safe record of host -> phase -> seconds for one run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._times: dict[str, dict[str, float]] = {}
        self._local = threading.local()

    def add(self, host: str, name: str, seconds: float) -> None:
        """Add ``seconds`` to phase ``name`` of ``host``."""
        with self._lock:
            per_host = self._times.setdefault(host, {})
            per_host[name] = per_host.get(name, 0.0) + max(0.0, seconds)

    def _stack(self) -> list[_Open]:
        stack: list[_Open] | None = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    @contextlib.contextmanager
    def measure(self, host: str, name: str) -> Iterator[None]:
        """Time the block as phase ``name`` of ``host`` (an enclosing phase is paused)."""
        stack = self._stack()
        now = time.monotonic()
        if stack:
            outer = stack[-1]
            self.add(outer.host, outer.name, now - outer.since)
        entry = _Open(host, name, now)
        stack.append(entry)
        try:
            yield
        finally:
            end = time.monotonic()
            stack.pop()
            self.add(host, name, end - entry.since)
            if stack:
                stack[-1].since = end

    def snapshot(self) -> dict[str, dict[str, float]]:
        """Return host -> phase -> seconds (to the microsecond), phases in `KNOWN_PHASES` order."""
        with self._lock:
            return {
                host: {n: round(s, 6) for n, s in sorted(per.items(), key=_order)}
                for host, per in self._times.items()
            }


def _order(item: tuple[str, float]) -> tuple[int, str]:
    name = item[0]
    return (KNOWN_PHASES.index(name) if name in KNOWN_PHASES else len(KNOWN_PHASES), name)


_active: list[PhaseClock] = []
_active_lock = threading.Lock()


@contextlib.contextmanager
def active(clock: PhaseClock) -> Iterator[PhaseClock]:
    """Make ``clock`` the one `phase` records into while the block runs (one command run)."""
    with _active_lock:
        _active.append(clock)
    try:
        yield clock
    finally:
        with _active_lock:
            _active.remove(clock)


@contextlib.contextmanager
def phase(host: str, name: str) -> Iterator[None]:
    """Time the block as phase ``name`` of ``host`` in the running command's report.

    Records nothing when no command runs (a task called on its own).
    """
    clock = _active[-1] if _active else None
    if clock is None:
        yield
        return
    with clock.measure(host, name):
        yield


def timed(name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: time every call as phase ``name`` of the host of the first argument.

    The first argument is a Nornir ``Task`` (its host) or a `HostConnection` (its ``name``,
    the inventory name): ``@timed("upload")`` above ``apply_files(conn, ...)``.
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with phase(_host_of(args[0]) if args else "?", name):
                return fn(*args, **kwargs)

        return wrapper

    return decorate


def _host_of(first: Any) -> str:
    host = getattr(first, "host", None)
    return str(getattr(host, "name", None) or getattr(first, "name", "?"))


def phase_names(phases: Mapping[str, Mapping[str, float]]) -> list[str]:
    """Every phase of ``phases`` once: the known ones in order, then the others by name."""
    seen = {n for per in phases.values() for n in per}
    known = [n for n in KNOWN_PHASES if n in seen]
    return known + sorted(seen - set(known))


def profile_table(
    phases: Mapping[str, Mapping[str, float]], wall_s: float, *, max_hosts: int = 40
) -> str:
    """The ``--profile`` table: a row per host, a column per phase, seconds, plus totals.

    Hosts beyond ``max_hosts`` (slowest first) are summed into one row, so 200 hosts still
    give a table that fits a terminal. The last line says how the run's wall time compares.
    """
    names = phase_names(phases)
    if not names:
        return f"profile: no phase was recorded (run took {wall_s:.3f} s)\n"
    hosts = sorted(phases, key=lambda h: (-sum(phases[h].values()), h))
    shown, rest = hosts[:max_hosts], hosts[max_hosts:]
    rows = [
        [h, *(_cell(phases[h].get(n)) for n in names), _cell(sum(phases[h].values()))]
        for h in shown
    ]
    if rest:
        totals = [sum(phases[h].get(n, 0.0) for h in rest) for n in names]
        label = f"({len(rest)} more hosts, summed)"
        rows.append([label, *(_cell(t) for t in totals), _cell(sum(totals))])
    header = ["host", *names, "sum"]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            c.rjust(w) if i else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in [header, *rows]
    ]
    busiest = max((sum(p.values()), h) for h, p in phases.items())
    lines.append(
        f"wall time {wall_s:.3f} s; busiest host {busiest[1]} {busiest[0]:.3f} s in phases "
        "(each host's phases run in its own thread, hosts in parallel)"
    )
    return "\n".join(lines) + "\n"


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
