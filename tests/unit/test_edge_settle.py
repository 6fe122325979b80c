"""`tasks.edge.settle_routes`: how often it asks Traefik while a new route is not served yet.

Traefik applies a route its providers' throttle after the container turned healthy (the lab's
200 ms): the first second is asked every 50 ms, later rounds every 200 ms. The requests are
replaced by a script and the clock by one that only sleeping advances, so nothing here depends
on timing; the real Traefik is in tests/lab (test_edge_convergence, test_standins).
"""

from __future__ import annotations

from typing import Any

import pytest
from fake_clock import FakeClock

from nornir_homehub.facts.http import ProbeOutcome
from nornir_homehub.facts.traefik import Route
from nornir_homehub.tasks import edge

ROUTE = Route("chat.homehub.test", "/", "openwebui", "openwebui")


def settle(timeout: float) -> Any:
    """`settle_routes` for ROUTE, with no connection (the requests are replaced)."""
    return edge.settle_routes(
        None,  # type: ignore[arg-type]
        [ROUTE],
        {},
        timeout=timeout,
        auth_host="auth.homehub.test",
    )


def test_a_route_is_asked_every_50_ms_in_the_first_second_then_every_200_ms(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock(50.0)
    answers = [404] * 24 + [401]
    asked: list[float] = []

    def probe(_conn: Any, routes: list[Route], _vars: Any, **_kw: Any) -> Any:
        asked.append(clock.now)
        return {r: ProbeOutcome("http://127.0.0.1/", answers.pop(0)) for r in routes}, None

    monkeypatch.setattr(edge, "time", clock)
    monkeypatch.setattr(edge, "probe_routes", probe)
    out = settle(60)
    diagnosis, waited = out[ROUTE]
    assert diagnosis.served
    # 20 or 21 fast ones (float sums at the 1 s edge), then only slow ones.
    fast = clock.sleeps.index(0.2)
    assert fast in (20, 21) and set(clock.sleeps[:fast]) == {0.05}
    assert set(clock.sleeps[fast:]) == {0.2} and len(asked) == 25
    assert waited == pytest.approx(sum(clock.sleeps))


def test_the_deadline_still_bounds_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock(50.0)
    monkeypatch.setattr(edge, "time", clock)

    def probe(_conn: Any, routes: list[Route], _vars: Any, **_kw: Any) -> Any:
        return {r: ProbeOutcome("http://127.0.0.1/", 404) for r in routes}, None

    monkeypatch.setattr(edge, "probe_routes", probe)
    out = settle(0.12)
    assert not out[ROUTE][0].served and sum(clock.sleeps) == pytest.approx(0.12)
