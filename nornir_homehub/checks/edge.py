"""The edge: is every public route served through the auth middleware, and if not, why.

A route is served as expected when a request without credentials gets the forward-auth
middleware's answer: 302 to the auth host, or 401. Right after a deploy that (re)created a
routed service it usually is not, for a few seconds: Traefik's docker provider leaves a
container out of its routing until the container is healthy, then applies the change after
``providersThrottleDuration`` (2 s by default). So the deploy waits for its routes and
``verify`` allows a settle window before it calls a route broken (`tasks.edge.settle_routes`).

When a route does not converge, the cause comes from Traefik's own view, its API
(`facts.traefik`): the router is missing, a middleware it uses is missing, or its service has
no healthy server. Without the API the diagnosis rests on the HTTP answer and the containers
alone, and says so. The remedy matches the cause: a route that simply is not there yet never
points at Authentik.

Everything here is pure: facts in, a `Diagnosis` and a `Check` out.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nornir_homehub.checks.model import Check, Layer, Status
from nornir_homehub.errors import EdgeNotConverged
from nornir_homehub.facts.traefik import Route, TraefikView, backticked, hosts_in_rule
from nornir_homehub.secrets import redact_head

if TYPE_CHECKING:
    from nornir_homehub.facts.http import ProbeOutcome

FRONTEND_NETWORK = "frontend"

REMEDY_OUTPOST = (
    "Authentik Middleware Not Found: 1. check the outpost is healthy: "
    "`docker ps | grep outpost`; 2. verify the outpost is on the `{network}` network "
    "(`docker network inspect {network}`); 3. check Traefik's logs: `docker logs traefik`; "
    "4. restart Traefik if needed: `docker restart traefik`"
)
REMEDY_AUTH_OPEN = (
    "{url} answers {status} WITHOUT credentials: the router does not use the forward-auth "
    "middleware; check the stack's label `traefik.http.routers.*.middlewares=authentik@docker` "
    "and redeploy the stack; see Authentik Middleware Not Found"
)
REMEDY_ROUTER_MISSING = (
    "Traefik has no router for {fqdn}. Its docker provider adds a container's routers only once "
    "the container is healthy, and applies the change about 2 s later "
    "(providersThrottleDuration): check that the container declaring the route runs and is "
    "healthy (`docker ps`), is on the `{network}` network and has the label "
    "`traefik.enable=true` (`docker inspect --format '{{{{json .Config.Labels}}}}' CONTAINER`); "
    "then `docker logs traefik`; redeploy the stack"
)
REMEDY_MIDDLEWARE = (
    "Router {router} uses middleware {middleware}, which Traefik does not have: declare it on a "
    "container with `traefik.enable=true`, or fix the router's "
    "`traefik.http.routers.*.middlewares` label; `docker logs traefik`"
)
REMEDY_NO_SERVER = (
    "Router {router} has no healthy server behind it ({detail}): check that the service's "
    "container runs and is healthy on the `{network}` network and that "
    "`traefik.http.services.*.loadbalancer.server.port` is the port it listens on "
    "(`docker ps`, `docker logs CONTAINER`); redeploy the stack"
)
REMEDY_ROUTER_ERROR = (
    "Router {router} is {status}: {errors}. Fix the stack's traefik labels and redeploy the "
    "stack; `docker logs traefik`"
)
REMEDY_NOT_SERVED = (
    "Traefik answers {status} for {fqdn}: no enabled router serves it. Either the route is not "
    "there yet (Traefik adds a container's routers once it is healthy, about 2 s later) or its "
    "router is disabled by an error in its labels: check the container declaring it runs and "
    "is healthy on the `{network}` network with `traefik.enable=true` (`docker ps`), and read "
    "`docker logs traefik`, which names the router's error. Set `traefik_api_url` in the "
    "inventory for an exact diagnosis"
)
REMEDY_BAD_GATEWAY = (
    "Traefik answers {status} for {fqdn}: the router exists but no server behind it answers; "
    "check the service's container runs and is healthy (`docker ps`, `docker logs CONTAINER`)"
)
REMEDY_NO_ANSWER = (
    "Check Traefik runs on the trusted host: `docker ps | grep traefik`, `docker logs traefik`"
)


class EdgeCause(enum.StrEnum):
    """Why a route is (not) served as expected."""

    SERVED = "served"  # the auth middleware answered: 302 to the auth host, or 401
    OPEN = "open without authentication"
    ROUTER_MISSING = "router missing"
    MIDDLEWARE_MISSING = "middleware missing"
    NO_HEALTHY_SERVER = "no healthy server"
    ROUTER_ERROR = "router error"
    NOT_SERVED = "not served"  # 404 without Traefik's view: router missing or disabled
    NO_ANSWER = "no answer"
    WRONG_REDIRECT = "redirect elsewhere"
    UNEXPECTED = "unexpected answer"


# A route in one of these states may still be converging: worth asking again.
TRANSIENT = frozenset(
    {
        EdgeCause.ROUTER_MISSING,
        EdgeCause.MIDDLEWARE_MISSING,
        EdgeCause.NO_HEALTHY_SERVER,
        EdgeCause.NOT_SERVED,
        EdgeCause.NO_ANSWER,
        EdgeCause.UNEXPECTED,
    }
)  # open routes and redirects elsewhere are configuration: waiting does not change them
_LAYER = {
    EdgeCause.SERVED: Layer.AUTH,
    EdgeCause.OPEN: Layer.AUTH,
    EdgeCause.MIDDLEWARE_MISSING: Layer.AUTH,
    EdgeCause.WRONG_REDIRECT: Layer.AUTH,
    EdgeCause.NO_HEALTHY_SERVER: Layer.CONTAINER,
}


@dataclass(frozen=True)
class Diagnosis:
    """The verdict on one route: its cause, what was seen, what to do, and which layer."""

    cause: EdgeCause
    evidence: str
    remedy: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def served(self) -> bool:
        """True when the auth middleware answered as expected."""
        return self.cause is EdgeCause.SERVED

    @property
    def layer(self) -> Layer:
        """The layer that failed (http for routing, auth, container for servers)."""
        return _LAYER.get(self.cause, Layer.HTTP)


def _auth_answer(outcome: ProbeOutcome, auth_host: str) -> bool:
    if outcome.error:
        return False
    if outcome.status == 401:
        return True
    return outcome.status in (301, 302, 303, 307, 308) and auth_host in outcome.location


def _router_for(view: TraefikView, route: Route) -> Mapping[str, Any] | None:
    named = [r for r in view.routers if route.router and r.get("name") == f"{route.router}@docker"]
    by_host = [r for r in view.routers if route.fqdn in hosts_in_rule(str(r.get("rule", "")))]
    found = named or by_host
    return found[0] if found else None


def traefik_cause(  # noqa: PLR0911 - one return per cause reads best
    view: TraefikView, route: Route
) -> tuple[EdgeCause, str, dict[str, str]] | None:
    """What Traefik's own view says is wrong with ``route`` (None: nothing it can see).

    Returns:
        (cause, what Traefik reports, remedy fields), or None when the router is enabled, its
        middlewares exist and its service has a server UP.
    """
    router = _router_for(view, route)
    if router is None:
        return EdgeCause.ROUTER_MISSING, f"Traefik has no router for {route.fqdn}", {}
    name = str(router.get("name", route.router or "?"))
    status = str(router.get("status", "?"))
    errors = [str(e) for e in router.get("error") or []]
    fields = {"router": name, "status": status}
    for err in errors:
        if "middleware" in err and "does not exist" in err:
            missing = backticked(err.replace('"', "`"))
            fields["middleware"] = missing[0] if missing else "?"
            return EdgeCause.MIDDLEWARE_MISSING, f"router {name} is {status}: {err}", fields
    for err in errors:
        if "service" in err and "does not exist" in err:
            fields["detail"] = err
            return EdgeCause.NO_HEALTHY_SERVER, f"router {name} is {status}: {err}", fields
    if errors or status != "enabled":
        fields["errors"] = "; ".join(errors) or "no error given"
        return EdgeCause.ROUTER_ERROR, f"router {name} is {status}: {fields['errors']}", fields
    provider = name.partition("@")[2] or "docker"
    service = str(router.get("service", ""))
    full = service if "@" in service else f"{service}@{provider}"
    svc = next((s for s in view.services if s.get("name") == full), None)
    if svc is None:
        fields["detail"] = f"service {full} does not exist"
        return EdgeCause.NO_HEALTHY_SERVER, f"router {name}: service {full} does not exist", fields
    servers = [str(s.get("url", "")) for s in (svc.get("loadBalancer") or {}).get("servers") or []]
    up = {str(k): str(v) for k, v in (svc.get("serverStatus") or {}).items()}
    if not servers or (up and "UP" not in up.values()):
        detail = (
            f"service {full} lists no server"
            if not servers
            else f"service {full}: " + ", ".join(f"{u} {s}" for u, s in up.items())
        )
        fields["detail"] = detail
        return EdgeCause.NO_HEALTHY_SERVER, f"router {name}: {detail}", fields
    return None


def diagnose(
    route: Route,
    outcome: ProbeOutcome,
    *,
    auth_host: str,
    view: TraefikView | None = None,
    outpost_ready: bool | None = None,
) -> Diagnosis:
    """Judge one unauthenticated request through Traefik for ``route``.

    Args:
        route: the route asked for.
        outcome: what the request saw.
        auth_host: the auth host name a 302 must point at (``auth.<domain>``).
        view: Traefik's API view (None or with ``error``: diagnose from the answer alone).
        outpost_ready: whether an Authentik outpost container runs healthy (None: unknown);
            only used without Traefik's view, to tell a missing middleware from a missing route.
    """
    where = f"GET {outcome.url} (Host {route.fqdn}, no credentials)"
    data: dict[str, Any] = {**route.to_dict(), **outcome.to_dict(), "auth_host": auth_host}
    net = {"network": FRONTEND_NETWORK, "fqdn": route.fqdn}
    if _auth_answer(outcome, auth_host):
        target = f" to {redact_head(outcome.location, 120)}" if outcome.location else ""
        seen = f"{outcome.status}{target}"
        return Diagnosis(EdgeCause.SERVED, f"{where} -> {seen}", "", data)
    if 200 <= outcome.status < 300:
        return Diagnosis(
            EdgeCause.OPEN,
            f"{where} -> {outcome.status}: open without authentication",
            REMEDY_AUTH_OPEN.format(url=outcome.url, status=outcome.status),
            data,
        )
    answer = f"Traefik did not answer: {outcome.error}" if outcome.error else f"-> {outcome.status}"
    if outcome.status in (301, 302, 303, 307, 308):
        answer += f" to {outcome.location or '(no Location)'}, not to {auth_host}"
    if view is not None and view.error is None:
        found = traefik_cause(view, route)
        data["traefik"] = found[1] if found else "router enabled, middlewares present, server UP"
        if found is not None:
            cause, seen, fields = found
            evidence = f"{where} {answer}; Traefik's API: {seen}"
            return Diagnosis(cause, evidence, _remedy(cause, {**net, **fields}), data)
    elif view is not None:
        data["traefik"] = f"API not readable: {view.error}"
    return _status_only(route, outcome, where, answer, data, net, outpost_ready)


def _remedy(cause: EdgeCause, fields: Mapping[str, str]) -> str:
    if cause is EdgeCause.ROUTER_MISSING:
        return REMEDY_ROUTER_MISSING.format(**fields)
    if cause is EdgeCause.MIDDLEWARE_MISSING:
        if fields.get("middleware", "").startswith("authentik"):
            return REMEDY_OUTPOST.format(**fields)
        return REMEDY_MIDDLEWARE.format(**fields)
    if cause is EdgeCause.NO_HEALTHY_SERVER:
        return REMEDY_NO_SERVER.format(**fields)
    return REMEDY_ROUTER_ERROR.format(**{"errors": "?", **fields})


def _status_only(
    route: Route,
    outcome: ProbeOutcome,
    where: str,
    answer: str,
    data: dict[str, Any],
    net: Mapping[str, str],
    outpost_ready: bool | None,
) -> Diagnosis:
    """The diagnosis from the HTTP answer (and the outpost container) alone."""
    evidence = f"{where} {answer}"
    if outcome.error:
        return Diagnosis(EdgeCause.NO_ANSWER, evidence, REMEDY_NO_ANSWER, data)
    if outcome.status == 404 and outpost_ready is False:
        # Every router using the forward-auth middleware is disabled while its declaring
        # container (the outpost) is out of Traefik's view.
        return Diagnosis(
            EdgeCause.MIDDLEWARE_MISSING,
            f"{evidence}; the Authentik outpost is not running healthy",
            REMEDY_OUTPOST.format(**net),
            data,
        )
    if outcome.status == 404:
        return Diagnosis(
            EdgeCause.NOT_SERVED,
            f"{evidence}: no enabled router serves {route.fqdn}",
            REMEDY_NOT_SERVED.format(status=404, **net),
            data,
        )
    if outcome.status in (502, 503, 504):
        return Diagnosis(
            EdgeCause.NO_HEALTHY_SERVER,
            evidence,
            REMEDY_BAD_GATEWAY.format(status=outcome.status, **net),
            data,
        )
    if outcome.status in (301, 302, 303, 307, 308):
        return Diagnosis(EdgeCause.WRONG_REDIRECT, evidence, REMEDY_OUTPOST.format(**net), data)
    return Diagnosis(
        EdgeCause.UNEXPECTED,
        f"{evidence}, expected 302 to {data['auth_host']} or 401",
        REMEDY_NOT_SERVED.format(status=outcome.status, **net),
        data,
    )


def route_check(host: str, route: Route, diagnosis: Diagnosis, waited: float = 0.0) -> Check:
    """The ``auth.<name>`` check of one route (``waited``: seconds of settle window used)."""
    data = {**diagnosis.data, "cause": str(diagnosis.cause), "waited_s": round(waited, 1)}
    status = Status.PASS if diagnosis.served else Status.FAIL
    evidence = f"{host}: {diagnosis.evidence}"
    if waited >= 1 and not diagnosis.served:
        evidence += f" (still after {waited:.0f}s)"
    return Check(
        f"auth.{route.short}", host, diagnosis.layer, status, evidence, diagnosis.remedy, data
    )


def not_converged(host: str, results: Mapping[Route, tuple[Diagnosis, float]]) -> EdgeNotConverged:
    """The error for the routes that were not served after the wait (first cause's layer)."""
    bad = [(r, d, w) for r, (d, w) in results.items() if not d.served]
    lines = [
        f"{r.fqdn}"
        + (f" (router {r.router}@docker, stack {r.stack})" if r.router else "")
        + f": {d.cause} after {w:.0f}s: {d.evidence}. Remedy: {d.remedy}"
        for r, d, w in bad
    ]
    return EdgeNotConverged(
        f"{host}: the edge does not serve {len(bad)} route(s) as expected: " + " | ".join(lines),
        bad[0][1].layer,
    )


def summarize(results: Mapping[Route, tuple[Diagnosis, float]]) -> list[dict[str, Any]]:
    """JSON-ready rows: route, cause, seconds waited, evidence."""
    return [
        {**r.to_dict(), "cause": str(d.cause), "waited_s": round(w, 1), "evidence": d.evidence}
        for r, (d, w) in results.items()
    ]
