"""Waiting for the edge: ask for the public routes until Traefik serves them, then diagnose.

Traefik adds a container's routers a few seconds after the container turns healthy, so the
deploy waits for its routes (``edge_wait_timeout``) and ``verify`` allows a settle window
(``edge_settle_timeout``) before calling a route broken. The requests and Traefik's API view
are facts (`facts.traefik`), the verdict is a check (`checks.edge`); this module does the
polling. The names the deploy task uses about routes are re-exported here, so it imports one
module for the edge.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from nornir_homehub.checks.edge import TRANSIENT, Diagnosis, diagnose, not_converged, summarize
from nornir_homehub.facts.traefik import Route, probe_routes, routes_from_compose, unique
from nornir_homehub.report.phases import timed

if TYPE_CHECKING:
    from nornir_homehub.connection import HostConnection
    from nornir_homehub.facts.http import ProbeOutcome

__all__ = [
    "DEFAULT_EDGE_SETTLE",
    "DEFAULT_EDGE_WAIT",
    "Route",
    "not_converged",
    "routes_from_compose",
    "settle_routes",
    "summarize",
    "unique",
]

DEFAULT_EDGE_WAIT = 60.0  # inventory edge_wait_timeout: deploy waits this long for its routes
DEFAULT_EDGE_SETTLE = 30.0  # inventory edge_settle_timeout: verify's settle window
POLL_INTERVAL = 0.2  # one round is one command on the trusted host (a few ms of curl)
# Traefik applies a route its providers' throttle (2 s by default, the lab's 200 ms) after the
# container turned healthy: asked this often in the first second, the lab's comes on time.
FAST_POLL, FAST_FOR = 0.05, 1.0


@timed("edge convergence")
def settle_routes(
    conn: HostConnection,
    routes: Sequence[Route],
    variables: Mapping[str, Any],
    *,
    timeout: float,
    auth_host: str,
    first: Mapping[Route, ProbeOutcome] | None = None,
    outpost_ready: Callable[[], bool | None] | None = None,
    request_timeout: float = 5,
) -> dict[Route, tuple[Diagnosis, float]]:
    """Ask for ``routes`` until each is served as expected or ``timeout`` seconds passed.

    A route that is served is not asked again; one whose answer cannot improve by waiting (open
    without authentication) ends at once. When routes are left at the deadline, Traefik's API
    is read once (when configured) for the exact cause.

    Args:
        conn: the trusted host's connection.
        routes: the routes to wait for.
        variables: the host's template variables (edge request settings, API address).
        timeout: seconds to wait at most.
        auth_host: the auth host name a 302 must point at.
        first: outcomes already seen (verify's batch), used for the first round.
        outpost_ready: gives the outpost's readiness for the status-only diagnosis.
        request_timeout: seconds per request.

    Returns:
        route -> (diagnosis, seconds waited for it).
    """
    started = time.monotonic()
    deadline = started + max(0.0, timeout)
    done: dict[Route, tuple[Diagnosis, float]] = {}
    todo = list(routes)
    seen = dict(first or {})
    while todo:
        if not seen:
            seen, _ = probe_routes(conn, todo, variables, timeout=request_timeout)
        left = []
        for route in todo:
            d = diagnose(route, seen[route], auth_host=auth_host)
            if d.served or d.cause not in TRANSIENT:
                done[route] = (d, time.monotonic() - started)
            else:
                left.append(route)
        todo, seen = left, {}
        if not todo or time.monotonic() >= deadline:
            break
        now = time.monotonic()
        pause = FAST_POLL if now - started < FAST_FOR else POLL_INTERVAL
        time.sleep(min(pause, max(0.0, deadline - now)))
    if todo:
        outcomes, view = probe_routes(conn, todo, variables, with_api=True, timeout=request_timeout)
        ready = outpost_ready() if outpost_ready else None
        waited = time.monotonic() - started
        for route in todo:
            d = diagnose(
                route, outcomes[route], auth_host=auth_host, view=view, outpost_ready=ready
            )
            done[route] = (d, waited)
    return {r: done[r] for r in routes}
